//! OCI image layouts (`make-images --oci`): load and compare with the
//! docker-archive of the same image.

use berth_it::{fixtures, lines, Daemon};

#[test]
fn oci_layout_loads_with_the_docker_archive_id() {
    let d = Daemon::start();
    let f = fixtures();
    assert_eq!(
        lines(&d.load(&f.busybox_oci)),
        ["Loaded image: busybox:latest"]
    );
    assert_eq!(
        lines(&d.load(&f.layered_oci)),
        ["Loaded image: berth-test/layered:latest"]
    );
    for (name, img) in [
        ("busybox", f.busybox_image()),
        ("berth-test/layered", f.layered_image()),
    ] {
        assert_eq!(
            d.fmt(name, "{{.Id}}"),
            img.id,
            "{name}: OCI id == docker-archive id"
        );
        let layers = d.inspect(name)["RootFS"]["Layers"].clone();
        assert_eq!(
            layers,
            serde_json::json!(img.diff_ids()),
            "{name} RootFS.Layers"
        );
    }
    assert_eq!(
        d.fmt(
            "berth-test/layered",
            "{{.Config.WorkingDir}} {{index .Config.Labels \"org.berth.test\"}}"
        ),
        "/data layered"
    );
    assert_eq!(d.image_count(), 2);

    // the docker-archive of the same images adds nothing
    d.load(&f.busybox);
    d.load(&f.layered);
    assert_eq!(d.image_count(), 2);
    d.assert_store_consistent("OCI-loaded images");
}

#[test]
fn oci_and_docker_archive_agree_across_daemons() {
    let a = Daemon::start();
    let b = Daemon::start();
    let f = fixtures();
    a.load(&f.layered_oci);
    b.load(&f.layered);
    assert_eq!(
        a.fmt("berth-test/layered", "{{.Id}}"),
        b.fmt("berth-test/layered", "{{.Id}}")
    );
    assert_eq!(
        a.fmt("berth-test/layered", "{{json .RootFS}} {{json .Config}}"),
        b.fmt("berth-test/layered", "{{json .RootFS}} {{json .Config}}")
    );
    // and via the berth CLI
    let c = Daemon::start();
    let out = c.berth(["load", "-i"]).arg(&f.busybox_oci).ok();
    assert_eq!(lines(&out), ["Loaded image: busybox:latest"]);
    assert_eq!(c.fmt("busybox", "{{.Id}}"), f.busybox_image().id);
}
