//! The berth CLI: the image flows of the docker CLI, and the same output.

use berth_it::{fixtures, is_digest, lines, read_docker_archive, rootfs_tar, sorted_lines, Daemon};

const REPO_TAG: &str = "{{.Repository}}:{{.Tag}}";

fn loaded_daemon() -> Daemon {
    let d = Daemon::start();
    let f = fixtures();
    d.load(&f.busybox);
    d.load(&f.layered);
    d
}

#[test]
fn berth_load_and_images_match_docker() {
    let d = Daemon::start();
    let f = fixtures();
    let out = d.berth(["load", "-i"]).arg(&f.busybox).ok();
    assert_eq!(lines(&out), ["Loaded image: busybox:latest"]);
    let out = d.berth(["load"]).stdin_file(&f.layered).ok();
    assert_eq!(lines(&out), ["Loaded image: berth-test/layered:latest"]);
    assert_eq!(d.image_count(), 2);

    let berth = d.berth(["images", "--format", REPO_TAG]).ok();
    let docker = d.docker(["images", "--format", REPO_TAG]).ok();
    assert_eq!(berth, docker, "berth images --format vs docker");
    assert_eq!(
        sorted_lines(&berth),
        ["berth-test/layered:latest", "busybox:latest"]
    );
    assert_eq!(
        d.berth(["images", "-q"]).ok(),
        d.docker(["images", "-q"]).ok()
    );
    assert_eq!(
        d.berth(["images", "--no-trunc", "-q"]).ok(),
        d.docker(["images", "--no-trunc", "-q"]).ok()
    );
    for img in ["busybox", "berth-test/layered"] {
        let b = d
            .berth(["image", "inspect", "--format", "{{.Id}}", img])
            .ok();
        assert_eq!(b.trim(), d.fmt(img, "{{.Id}}"), "berth image inspect {img}");
    }
    assert_eq!(
        d.berth(["image", "inspect", "--format", "{{.Id}}", "busybox"])
            .ok()
            .trim(),
        f.busybox_image().id
    );
}

#[test]
fn berth_images_table_matches_docker() {
    let d = loaded_daemon();
    assert_eq!(
        d.berth(["images"]).ok(),
        d.docker(["images"]).ok(),
        "default `images` table"
    );
    assert_eq!(
        d.berth(["images", "--filter", "reference=busy*"]).ok(),
        d.docker(["images", "--filter", "reference=busy*"]).ok(),
    );
}

#[test]
fn berth_history_matches_docker() {
    let d = loaded_daemon();
    let args = [
        "history",
        "--format",
        "{{.CreatedBy}}",
        "--no-trunc",
        "berth-test/layered",
    ];
    let b = d.berth(args).ok();
    assert_eq!(b, d.docker(args).ok(), "history --format --no-trunc");
    assert_eq!(lines(&b).len(), 6);
    assert_eq!(
        d.berth(["history", "berth-test/layered"]).ok(),
        d.docker(["history", "berth-test/layered"]).ok(),
        "default history table"
    );
}

#[test]
fn berth_save_tag_rmi_load_round_trip() {
    let d = loaded_daemon();
    let f = fixtures();
    let id = f.layered_image().id;
    assert!(d
        .berth(["tag", "berth-test/layered", "p-b:1"])
        .ok()
        .trim()
        .is_empty());
    assert_eq!(d.fmt("p-b:1", "{{.Id}}"), id);
    let out = d.work.join("b.tar");
    d.berth(["save", "-o"]).arg(&out).arg("p-b:1").ok();
    let imgs = read_docker_archive(&out);
    assert_eq!(imgs.len(), 1);
    assert_eq!(imgs[0].id, id);
    assert_eq!(imgs[0].repo_tags, ["p-b:1"]);
    imgs[0].assert_layers_match_diff_ids("berth save");

    assert_eq!(lines(&d.berth(["rmi", "p-b:1"]).ok()), ["Untagged: p-b:1"]);
    let out_rm = d.berth(["rmi", "berth-test/layered"]).ok();
    let l = lines(&out_rm);
    assert!(
        l.contains(&"Untagged: berth-test/layered:latest".to_string())
            && l.contains(&format!("Deleted: {id}")),
        "berth rmi output: {out_rm}"
    );
    assert_eq!(d.image_count(), 1);
    let loaded = d.berth(["load", "-i"]).arg(&out).ok();
    assert_eq!(lines(&loaded), ["Loaded image: p-b:1"]);
    assert_eq!(d.fmt("p-b:1", "{{.Id}}"), id);
    d.assert_store_consistent("after berth round trip");
}

#[test]
fn berth_import_applies_changes() {
    let d = Daemon::start();
    let root = d.work.join("root.tar");
    std::fs::write(&root, rootfs_tar()).unwrap();
    let out = d
        .berth(["import", "-c", r#"CMD ["/bin/sh"]"#, "-c", "ENV A=b"])
        .arg(&root)
        .arg("p-bimp:1")
        .ok();
    assert!(is_digest(out.trim()), "berth import prints the id: {out}");
    assert_eq!(d.fmt("p-bimp:1", "{{.Id}}"), out.trim());
    assert_eq!(d.fmt("p-bimp:1", "{{json .Config.Cmd}}"), r#"["/bin/sh"]"#);
    assert_eq!(d.fmt("p-bimp:1", "{{json .Config.Env}}"), r#"["A=b"]"#);
    let out = d.berth(["import", "-", "p-bimp:2"]).stdin_file(&root).ok();
    assert!(is_digest(out.trim()), "{out}");
    assert_eq!(d.image_count(), 2);
}

#[test]
fn berth_errors_are_reported() {
    let d = Daemon::start();
    d.load(&fixtures().busybox);
    let o = d.berth(["rmi", "p-nope:1"]).fails();
    assert!(o.combined().contains("No such image"), "{o}");
    d.docker(["tag", "busybox", "p-x:1"]).ok();
    let id = d.fmt("busybox", "{{.Id}}");
    let o = d.berth(["rmi", &id]).fails();
    assert!(o.combined().contains("must be forced"), "{o}");
    let bad = d.work.join("bad.tar");
    std::fs::write(&bad, "not a tar\n").unwrap();
    let o = d.berth(["load", "-i"]).arg(&bad).fails();
    assert!(
        !o.stderr.trim().is_empty(),
        "berth load of garbage says why: {o}"
    );
    let o = d.berth(["image", "inspect", "p-nope:1"]).fails();
    assert!(o.combined().contains("No such image"), "{o}");
    assert_eq!(d.image_count(), 1);
}

#[test]
fn berth_finds_the_daemon_like_docker_does() {
    let d = Daemon::start();
    d.load(&fixtures().busybox);
    // DOCKER_HOST alone
    let out = d
        .berth(["images", "--format", REPO_TAG])
        .env_remove("BERTH_HOST")
        .ok();
    assert_eq!(
        lines(&out),
        ["busybox:latest"],
        "berth with DOCKER_HOST only"
    );
    // -H alone
    let out = d
        .berth(["-H", &d.host(), "images", "--format", REPO_TAG])
        .env_remove("BERTH_HOST")
        .env_remove("DOCKER_HOST")
        .ok();
    assert_eq!(lines(&out), ["busybox:latest"], "berth -H");
}

#[test]
fn berth_runs_containers_like_docker() {
    let d = Daemon::start();
    d.load(&fixtures().busybox);
    let b = d
        .berth([
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo hello from berth; echo err >&2; exit 4",
        ])
        .run();
    let k = d
        .docker([
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo hello from berth; echo err >&2; exit 4",
        ])
        .run();
    assert_eq!(
        (b.stdout.as_str(), b.stderr.as_str(), b.status.code()),
        ("hello from berth\n", "err\n", Some(4)),
        "{b}"
    );
    assert_eq!(
        (b.stdout, b.stderr, b.status.code()),
        (k.stdout, k.stderr, k.status.code())
    );
    let id = d
        .berth(["run", "-d", "--name", "bx", "busybox", "sleep", "100"])
        .ok();
    assert_eq!(id.trim().len(), 64);
    assert_eq!(
        d.berth(["ps", "--format", "{{.Names}}"]).ok(),
        d.docker(["ps", "--format", "{{.Names}}"]).ok()
    );
    d.berth(["rm", "-f", "bx"]).ok();
    assert!(d.docker(["ps", "-aq"]).ok().trim().is_empty());
}
