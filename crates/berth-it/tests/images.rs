//! Images through the real docker CLI (and the raw API where the CLI hides
//! status codes): load, save, history, import, tag/rmi, filters, prune, events.

use berth_it::{
    chain_ids, fixtures, is_digest, is_hex, lines, read_docker_archive, read_docker_archive_bytes,
    rootfs_tar, sorted_lines, unix_now, urlencode, Daemon,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const REPO_TAG: &str = "{{.Repository}}:{{.Tag}}";

fn images(d: &Daemon, args: &[&str]) -> Vec<String> {
    sorted_lines(&d.docker(["images", "--format", REPO_TAG]).args(args).ok())
}

fn set(v: &[String]) -> BTreeSet<String> {
    v.iter().cloned().collect()
}

#[test]
fn load_fixtures_lists_and_counts() {
    let d = Daemon::start();
    let f = fixtures();
    assert_eq!(lines(&d.load(&f.busybox)), ["Loaded image: busybox:latest"]);
    assert_eq!(d.image_count(), 1);
    assert_eq!(
        lines(&d.load(&f.layered)),
        ["Loaded image: berth-test/layered:latest"]
    );
    assert_eq!(
        images(&d, &[]),
        ["berth-test/layered:latest", "busybox:latest"]
    );
    assert_eq!(
        d.fmt("busybox", "{{.Id}}"),
        f.busybox_image().id,
        "ID = sha256(config)"
    );
    assert_eq!(d.fmt("berth-test/layered", "{{.Id}}"), f.layered_image().id);
    assert_eq!(
        d.docker(["info", "--format", "{{.Images}}"]).ok().trim(),
        "2"
    );

    let short = lines(&d.docker(["images", "-q"]).ok());
    assert_eq!(short.len(), 2, "{short:?}");
    assert!(short.iter().all(|s| is_hex(s, 12)), "{short:?}");
    let full = d.image_ids();
    assert_eq!(
        set(&full),
        set(&[f.busybox_image().id, f.layered_image().id]),
        "docker images -a -q --no-trunc"
    );

    // Loading the same archive again is a no-op for the store.
    assert_eq!(lines(&d.load(&f.busybox)), ["Loaded image: busybox:latest"]);
    assert_eq!(d.image_count(), 2);
    d.assert_store_consistent("after loads");
}

#[test]
fn load_via_api_streams_json() {
    let d = Daemon::start();
    let body = std::fs::read(&fixtures().busybox).unwrap();
    let r = d.http_body("POST", "/v1.45/images/load?quiet=1", Some(&body));
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    let mut saw = false;
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(l)
            .unwrap_or_else(|e| panic!("load stream line is not JSON ({e}): {l:?}"));
        if v["stream"]
            .as_str()
            .is_some_and(|s| s.contains("Loaded image: busybox:latest"))
        {
            saw = true;
        }
    }
    assert!(
        saw,
        "load stream lacks `Loaded image: busybox:latest`: {text}"
    );
    assert_eq!(d.image_count(), 1);
}

#[test]
fn load_real_docker_save_output() {
    let d = Daemon::start();
    let f = fixtures();
    let want = f.docker_save_busybox_image();
    assert_eq!(
        lines(&d.load(&f.docker_save_busybox)),
        ["Loaded image: busybox:latest"]
    );
    assert_eq!(d.fmt("busybox", "{{.Id}}"), want.id);
    assert_eq!(
        d.fmt(
            "busybox",
            "layers={{len .RootFS.Layers}} Cmd={{json .Config.Cmd}}"
        ),
        r#"layers=1 Cmd=["sh"]"#
    );
    assert_eq!(
        d.inspect("busybox")["RootFS"]["Layers"][0],
        want.diff_ids()[0].as_str()
    );

    // again from stdin, after removing it
    d.docker(["rmi", "busybox"]).ok();
    assert_eq!(d.image_count(), 0);
    let out = d.docker(["load"]).stdin_file(&f.docker_save_busybox).ok();
    assert_eq!(lines(&out), ["Loaded image: busybox:latest"]);
    assert_eq!(d.fmt("busybox", "{{.Id}}"), want.id);
    d.assert_store_consistent("docker's own save output");
}

#[test]
fn save_rmi_load_round_trips() {
    let d = Daemon::start();
    let f = fixtures();
    d.load(&f.busybox);
    d.load(&f.layered);
    let layered_id = f.layered_image().id;
    d.docker(["tag", "berth-test/layered", "p-sl:v1"]).ok();
    let img = d.work.join("img.tar");
    d.docker(["save", "p-sl:v1", "-o"]).arg(&img).ok();

    let saved = read_docker_archive(&img);
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].repo_tags, ["p-sl:v1"]);
    assert_eq!(
        saved[0].id, layered_id,
        "saved config re-hashes to the image id"
    );
    assert_eq!(saved[0].layer_digests.len(), 4);
    saved[0].assert_layers_match_diff_ids("docker save p-sl:v1");
    let manifest: Value = serde_json::from_slice(
        &berth_it::archive::tar_contents(&std::fs::read(&img).unwrap())
            .unwrap()
            .0["manifest.json"],
    )
    .unwrap();
    assert!(
        manifest[0]["Config"]
            .as_str()
            .is_some_and(|c| c.ends_with(".json")),
        "manifest Config path (golden 19 says *.json): {manifest}"
    );

    assert_eq!(
        lines(&d.docker(["rmi", "p-sl:v1"]).ok()),
        ["Untagged: p-sl:v1"]
    );
    d.docker(["rmi", "berth-test/layered"]).ok();
    assert_eq!(d.image_count(), 1);
    assert_eq!(lines(&d.load(&img)), ["Loaded image: p-sl:v1"]);
    assert_eq!(
        d.fmt("p-sl:v1", "{{.Id}}"),
        layered_id,
        "same id after round trip"
    );

    // two images to stdout and back from stdin
    d.docker(["tag", "busybox", "p-sl:bb"]).ok();
    let two = d.docker(["save", "p-sl:v1", "p-sl:bb"]).run();
    assert!(two.success(), "{two}");
    let imgs = read_docker_archive_bytes(&two.raw_stdout).expect("docker save to stdout");
    assert_eq!(imgs.len(), 2);
    for i in &imgs {
        i.assert_layers_match_diff_ids("two-image save");
    }
    d.docker(["rmi", "p-sl:v1", "p-sl:bb"]).ok();
    let out = d.docker(["load"]).stdin_bytes(two.raw_stdout.clone()).ok();
    assert_eq!(
        sorted_lines(&out),
        ["Loaded image: p-sl:bb", "Loaded image: p-sl:v1"]
    );
    let two_path = d.work.join("two.tar");
    std::fs::write(&two_path, &two.raw_stdout).unwrap();
    let out = d.docker(["load", "-q", "-i"]).arg(&two_path).ok();
    assert_eq!(
        sorted_lines(&out),
        ["Loaded image: p-sl:bb", "Loaded image: p-sl:v1"]
    );

    // saved by id: loads without a tag
    let bb = f.busybox_image().id;
    let by_id = d.docker(["save", &bb]).run();
    assert!(by_id.success(), "{by_id}");
    let out = d.docker(["load"]).stdin_bytes(by_id.raw_stdout).ok();
    assert_eq!(lines(&out), [format!("Loaded image ID: {bb}")]);
    d.assert_store_consistent("after round trips");
}

#[test]
fn save_endpoints_of_the_api() {
    let d = Daemon::start();
    let f = fixtures();
    d.load(&f.busybox);
    d.load(&f.layered);
    let r = d.http("GET", "/v1.45/images/busybox/get");
    assert_eq!(r.status, 200, "{}", r.text());
    let imgs =
        read_docker_archive_bytes(&r.body).expect("GET /images/busybox/get is a docker-archive");
    assert_eq!(imgs.len(), 1);
    assert_eq!(imgs[0].id, f.busybox_image().id);
    assert_eq!(imgs[0].repo_tags, ["busybox:latest"]);
    imgs[0].assert_layers_match_diff_ids("GET /images/busybox/get");

    let r = d.http(
        "GET",
        &format!(
            "/images/get?names=busybox&names={}",
            urlencode("berth-test/layered")
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let imgs = read_docker_archive_bytes(&r.body).expect("GET /images/get is a docker-archive");
    let ids: BTreeSet<String> = imgs.iter().map(|i| i.id.clone()).collect();
    assert_eq!(
        ids,
        [f.busybox_image().id, f.layered_image().id]
            .into_iter()
            .collect()
    );

    let r = d.http("GET", "/images/p-nope:1/get");
    assert_eq!(r.status, 404, "save of a missing image: {}", r.text());
}

#[test]
fn history_matches_the_golden() {
    let d = Daemon::start();
    let f = fixtures();
    d.load(&f.busybox);
    d.load(&f.layered);
    let golden = f.golden_section("18-images-tag-rmi-history.golden", "history");
    let id_start = golden
        .iter()
        .position(|l| l == "<ID>")
        .expect("golden history has an <ID> line");
    let created_by = &golden[..id_start];
    let id_col = &golden[id_start..id_start + created_by.len()];
    assert_eq!(created_by.len(), 6, "golden parse: {golden:?}");

    let out = d
        .docker([
            "history",
            "--format",
            "{{.CreatedBy}}",
            "--no-trunc",
            "berth-test/layered",
        ])
        .ok();
    assert_eq!(lines(&out), created_by, "history CreatedBy column");
    let out = d
        .docker(["history", "--format", "{{.ID}}", "berth-test/layered"])
        .ok();
    let norm: Vec<String> = lines(&out)
        .into_iter()
        .map(|l| if is_hex(&l, 12) { "<ID>".into() } else { l })
        .collect();
    assert_eq!(norm, id_col, "history ID column");
    let q = lines(&d.docker(["history", "-q", "berth-test/layered"]).ok());
    assert_eq!(
        q[0],
        f.layered_image().id[7..19],
        "first history row is the image"
    );

    // Size: empty layers (CMD, WORKDIR) are 0B, the others are not.
    let out = d
        .docker([
            "history",
            "--format",
            "{{.CreatedBy}}|{{.Size}}",
            "--no-trunc",
            "berth-test/layered",
        ])
        .ok();
    for l in lines(&out) {
        let (by, size) = l.rsplit_once('|').unwrap();
        let empty = by.starts_with("CMD") || by.starts_with("WORKDIR");
        assert_eq!(size == "0B", empty, "size of history row {l:?}");
    }

    // Raw API.
    let h = d.http("GET", "/v1.45/images/berth-test%2Flayered/history");
    assert_eq!(h.status, 200, "{}", h.text());
    let rows = h.json();
    let rows = rows.as_array().expect("history is an array");
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0]["Id"], f.layered_image().id.as_str());
    assert_eq!(rows[0]["Tags"][0], "berth-test/layered:latest");
    for r in &rows[1..] {
        assert_eq!(r["Id"], "<missing>", "{r}");
    }
    for r in rows {
        assert_eq!(r["Created"], berth_it::FIXTURE_EPOCH, "{r}");
    }
}

#[test]
fn import_applies_changes_and_message() {
    let d = Daemon::start();
    let root = d.work.join("root.tar");
    std::fs::write(&root, rootfs_tar()).unwrap();
    let out = d
        .docker([
            "import",
            "-c",
            r#"CMD ["/bin/sh"]"#,
            "-c",
            "ENV A=b",
            "-m",
            "imported msg",
        ])
        .arg(&root)
        .arg("p-imp:v1")
        .ok();
    let printed = lines(&out);
    assert_eq!(printed.len(), 1, "import prints the id: {out}");
    assert!(is_digest(&printed[0]), "import prints the id: {out}");
    assert_eq!(d.fmt("p-imp:v1", "{{.Id}}"), printed[0]);
    assert_eq!(d.fmt("p-imp:v1", "{{json .Config.Cmd}}"), r#"["/bin/sh"]"#);
    assert_eq!(d.fmt("p-imp:v1", "{{json .Config.Env}}"), r#"["A=b"]"#);
    assert_eq!(d.fmt("p-imp:v1", "{{.Comment}}"), "imported msg");
    assert_eq!(
        d.fmt(
            "p-imp:v1",
            "{{len .RootFS.Layers}} {{.Os}} {{.Architecture}}"
        ),
        "1 linux amd64"
    );
    assert_eq!(d.fmt("p-imp:v1", "{{json .RepoTags}}"), r#"["p-imp:v1"]"#);

    // from stdin, no changes
    let out = d
        .docker(["import", "-", "p-imp:stdin"])
        .stdin_file(&root)
        .ok();
    assert!(is_digest(out.trim()), "{out}");
    assert_eq!(d.fmt("p-imp:stdin", "{{json .Config.Cmd}}"), "null");
    assert_eq!(
        d.fmt("p-imp:stdin", "{{json .RootFS.Layers}}"),
        d.fmt("p-imp:v1", "{{json .RootFS.Layers}}"),
        "the same tar gives the same diff id"
    );

    // raw API: POST /images/create?fromSrc=-
    let body = rootfs_tar();
    let path = format!(
        "/v1.45/images/create?fromSrc=-&repo=p-raw&tag=1&changes={}&changes={}",
        urlencode(r#"CMD ["/hello"]"#),
        urlencode("WORKDIR /tmp")
    );
    let r = d.http_body("POST", &path, Some(&body));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(d.fmt("p-raw:1", "{{json .Config.Cmd}}"), r#"["/hello"]"#);
    assert_eq!(d.fmt("p-raw:1", "{{.Config.WorkingDir}}"), "/tmp");

    assert_eq!(d.image_count(), 3);
    d.assert_store_consistent("after imports");
}

#[test]
fn tag_then_rmi_untags_and_multi_repo_delete_must_be_forced() {
    let d = Daemon::start();
    d.load(&fixtures().busybox);
    let id = d.fmt("busybox", "{{.Id}}");
    d.docker(["tag", "busybox", "p-bb:v1"]).ok();
    d.docker(["tag", "busybox:latest", "p-bb:v2"]).ok();
    d.docker(["tag", "p-bb:v2", "p-other/name:tag-x"]).ok();
    assert_eq!(
        images(&d, &["--filter", "reference=p-bb"]),
        ["p-bb:v1", "p-bb:v2"]
    );
    assert_eq!(
        images(&d, &["--filter", "reference=p-*/*"]),
        ["p-other/name:tag-x"]
    );
    assert_eq!(images(&d, &["p-bb"]), ["p-bb:v1", "p-bb:v2"]);
    for t in ["p-bb:v1", "p-bb:v2", "p-other/name:tag-x"] {
        assert_eq!(d.fmt(t, "{{.Id}}"), id, "{t} shares the image id");
    }
    let tags: Vec<String> = serde_json::from_str(&d.fmt(&id, "{{json .RepoTags}}")).unwrap();
    assert_eq!(
        set(&tags),
        set(&[
            "busybox:latest".into(),
            "p-bb:v1".into(),
            "p-bb:v2".into(),
            "p-other/name:tag-x".into()
        ])
    );
    let q = sorted_lines(&d.docker(["images", "-q", "p-bb"]).ok());
    assert_eq!(
        q,
        [&id[7..19], &id[7..19]],
        "-q prints the short id per tag"
    );
    assert_eq!(
        d.docker(["images", "--no-trunc", "-q", "p-bb:v1"])
            .ok()
            .trim(),
        id
    );
    assert_eq!(d.image_count(), 1, "tags are not images");

    // rmi of one of several tags only untags
    assert_eq!(
        lines(&d.docker(["rmi", "p-bb:v1"]).ok()),
        ["Untagged: p-bb:v1"]
    );
    assert_eq!(
        lines(
            &d.docker([
                "images",
                "--filter",
                "reference=p-bb",
                "--format",
                "{{.Tag}}"
            ])
            .ok()
        ),
        ["v2"]
    );
    assert_eq!(d.image_count(), 1);

    // by id while several repositories reference it: must be forced
    let o = d.docker(["rmi", &id]).fails();
    assert!(o.combined().contains("must be forced"), "{o}");
    let r = d.http("DELETE", &format!("/v1.45/images/{id}"));
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(
        r.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("must be forced")),
        "{}",
        r.text()
    );
    assert_eq!(d.image_count(), 1, "refused delete changes nothing");

    // unknown image
    let o = d.docker(["rmi", "p-nope:1"]).fails();
    assert!(o.combined().contains("No such image"), "{o}");
    let r = d.http("DELETE", "/images/p-nope:1");
    assert_eq!(r.status, 404, "{}", r.text());

    // forced: every tag goes, then the image
    let out = d.docker(["rmi", "-f", &id]).ok();
    let got = set(&lines(&out));
    for want in [
        "Untagged: busybox:latest".to_string(),
        "Untagged: p-bb:v2".into(),
        "Untagged: p-other/name:tag-x".into(),
        format!("Deleted: {id}"),
    ] {
        assert!(got.contains(&want), "rmi -f output lacks {want:?}: {out}");
    }
    assert_eq!(d.image_count(), 0);
    assert!(d.image_ids().is_empty());
    let o = d.docker(["image", "inspect", &id]).fails();
    assert!(o.combined().contains("No such image"), "{o}");
}

#[test]
fn rmi_deletes_only_unshared_layers() {
    let d = Daemon::start();
    let f = fixtures();
    d.load(&f.busybox);
    d.load(&f.layered);
    let lay = f.layered_image();
    let chains = chain_ids(&lay.diff_ids());
    let out = d.docker(["rmi", "berth-test/layered"]).ok();
    let mut want = vec![
        "Untagged: berth-test/layered:latest".to_string(),
        format!("Deleted: {}", lay.id),
    ];
    // the base layer is busybox's: it stays
    want.extend(chains[1..].iter().map(|c| format!("Deleted: {c}")));
    assert_eq!(set(&lines(&out)), set(&want), "rmi output");
    d.assert_store_consistent("busybox after deleting layered");

    d.load(&f.layered);
    assert_eq!(d.fmt("berth-test/layered", "{{.Id}}"), lay.id);
    let bb = f.busybox_image().id;
    let out = d.docker(["rmi", "busybox"]).ok();
    assert_eq!(
        set(&lines(&out)),
        set(&["Untagged: busybox:latest".into(), format!("Deleted: {bb}")]),
        "busybox's layer is still used by layered"
    );
    d.assert_store_consistent("layered after deleting busybox");

    // --no-prune (noprune=1) only keeps untagged parents; a loaded image has none
    let out = d.docker(["rmi", "--no-prune", "berth-test/layered"]).ok();
    let got = set(&lines(&out));
    assert!(
        got.contains("Untagged: berth-test/layered:latest")
            && got.contains(&format!("Deleted: {}", lay.id)),
        "rmi --no-prune: {out}"
    );
    assert_eq!(d.image_count(), 0);
}

#[test]
fn image_list_filters() {
    let d = Daemon::start();
    let f = fixtures();
    d.load(&f.busybox);
    d.load(&f.layered);
    let root = d.work.join("root.tar");
    std::fs::write(&root, rootfs_tar()).unwrap();
    let dangling = d.docker(["import"]).arg(&root).ok().trim().to_string();
    assert!(is_digest(&dangling), "{dangling}");
    let both = ["berth-test/layered:latest", "busybox:latest"];

    assert_eq!(images(&d, &[]), ["<none>:<none>", both[0], both[1]]);
    // reference
    assert_eq!(
        images(&d, &["--filter", "reference=busy*"]),
        ["busybox:latest"]
    );
    assert_eq!(
        images(&d, &["--filter", "reference=berth-test/*"]),
        ["berth-test/layered:latest"]
    );
    assert!(images(&d, &["--filter", "reference=nomatch*"]).is_empty());
    assert_eq!(
        images(
            &d,
            &[
                "--filter",
                "reference=busybox",
                "--filter",
                "dangling=false"
            ]
        ),
        ["busybox:latest"]
    );
    // dangling
    let out = d
        .docker([
            "images",
            "--filter",
            "dangling=true",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}}",
        ])
        .ok();
    assert_eq!(lines(&out), [format!("<none>:<none> {}", &dangling[7..19])]);
    assert_eq!(images(&d, &["--filter", "dangling=false"]), both);
    // label
    assert_eq!(
        images(&d, &["--filter", "label=org.berth.test=layered"]),
        ["berth-test/layered:latest"]
    );
    assert_eq!(
        images(&d, &["--filter", "label=org.berth.test"]),
        ["berth-test/layered:latest"]
    );
    assert!(images(&d, &["--filter", "label=org.berth.test=other"]).is_empty());
    // before / since: the fixtures are from 2024-01-01, the import is from now
    assert_eq!(
        images(&d, &["--filter", "since=busybox"]),
        ["<none>:<none>"]
    );
    assert_eq!(
        images(&d, &["--filter", &format!("before={dangling}")]),
        both
    );
    assert!(images(&d, &["--filter", "before=busybox"]).is_empty());
    // digests column of a loaded image
    let out = d
        .docker([
            "images",
            "--digests",
            "--format",
            "{{.Repository}} {{.Digest}}",
            "busybox",
        ])
        .ok();
    assert_eq!(lines(&out), ["busybox <none>"]);

    // raw API, both filter encodings
    let q = urlencode(r#"{"label":["org.berth.test=layered"]}"#);
    let v = d
        .http("GET", &format!("/v1.45/images/json?filters={q}"))
        .json();
    let v = v.as_array().expect("array");
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(v[0]["RepoTags"][0], "berth-test/layered:latest");
    let q = urlencode(r#"{"dangling":{"true":true}}"#);
    let v = d.http("GET", &format!("/images/json?filters={q}")).json();
    let v = v.as_array().expect("array");
    assert_eq!(v.len(), 1, "map-of-bools filter form: {v:?}");
    assert_eq!(v[0]["Id"], dangling.as_str());
}

#[test]
fn image_prune_removes_dangling_then_unused() {
    let d = Daemon::start();
    let f = fixtures();
    d.load(&f.busybox);
    let root = d.work.join("root.tar");
    std::fs::write(&root, rootfs_tar()).unwrap();
    let dangling = d.docker(["import"]).arg(&root).ok().trim().to_string();
    assert_eq!(d.image_count(), 2);

    let out = d.docker(["image", "prune", "-f"]).ok();
    assert!(out.contains(&format!("deleted: {dangling}")), "{out}");
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert_eq!(d.image_ids(), [f.busybox_image().id]);

    let out = d.docker(["image", "prune", "-a", "-f"]).ok();
    assert!(out.contains("untagged: busybox:latest"), "{out}");
    assert!(
        out.contains(&format!("deleted: {}", f.busybox_image().id)),
        "{out}"
    );
    assert_eq!(d.image_count(), 0);

    let r = d.http("POST", "/v1.45/images/prune");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json().get("SpaceReclaimed").is_some(), "{}", r.text());
}

#[test]
fn image_events_since_until() {
    let d = Daemon::start();
    let f = fixtures();
    let since = unix_now();
    d.load(&f.busybox);
    d.docker(["tag", "busybox", "p-ev:x"]).ok();
    d.docker(["rmi", "p-ev:x"]).ok();
    let root = d.work.join("root.tar");
    std::fs::write(&root, rootfs_tar()).unwrap();
    d.docker(["import"]).arg(&root).arg("p-imp:1").ok();
    d.docker(["rmi", "p-imp:1"]).ok();
    let until = unix_now() + 1;
    let window = ["--since", &since.to_string(), "--until", &until.to_string()];

    let out = d
        .docker(["events", "--filter", "type=image", "--format", "{{json .}}"])
        .args(window)
        .timeout(Duration::from_secs(30))
        .ok();
    let evs: Vec<Value> = lines(&out)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("event {l:?}: {e}")))
        .collect();
    let actions: Vec<String> = evs
        .iter()
        .map(|e| {
            assert_eq!(e["Type"], "image", "{e}");
            let t = e["time"].as_u64().unwrap_or(0);
            assert!(
                t >= since && t <= until,
                "event time {t} outside [{since}, {until}]: {e}"
            );
            e["Action"].as_str().unwrap_or("").to_string()
        })
        .collect();
    let want = ["load", "tag", "untag", "import", "untag", "delete"];
    let mut it = actions.iter();
    for w in want {
        assert!(
            it.any(|a| a == w),
            "image events {actions:?} do not contain {want:?} in order"
        );
    }

    let out = d
        .docker([
            "events",
            "--filter",
            "type=image",
            "--filter",
            "image=p-ev:x",
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
        ])
        .args(window)
        .timeout(Duration::from_secs(30))
        .ok();
    assert_eq!(lines(&out), ["image tag p-ev:x"]);

    let out = d
        .docker([
            "events",
            "--filter",
            "event=delete",
            "--format",
            "{{.Type}} {{.Action}}",
        ])
        .args(window)
        .timeout(Duration::from_secs(30))
        .ok();
    assert_eq!(lines(&out), ["image delete"]);
}

#[test]
fn events_stream_live() {
    let d = Daemon::start();
    d.load(&fixtures().busybox);
    let q = urlencode(r#"{"type":["image"]}"#);
    // Tag from another thread a little after subscribing: the request is sent
    // before the tag, and a server that sends the response head only with the
    // first event is not deadlocked.
    let (sock, cfg) = (d.host(), d.docker_config.clone());
    let tagger = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        berth_it::Cli::new(berth_it::paths::docker_bin())
            .env("DOCKER_HOST", sock)
            .env("DOCKER_CONFIG", cfg)
            .args(["tag", "busybox", "p-live:1"])
            .ok();
    });
    let mut s = d.http_stream(
        "GET",
        &format!("/v1.45/events?filters={q}"),
        Duration::from_secs(20),
    );
    assert_eq!(s.status, 200);
    let line = loop {
        let l = s
            .read_line()
            .expect("an event within 20 s")
            .expect("stream stays open");
        if !l.trim().is_empty() {
            break l;
        }
    };
    tagger.join().unwrap();
    let e: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert_eq!(e["Type"], "image", "{e}");
    assert_eq!(e["Action"], "tag", "{e}");
    assert_eq!(e["Actor"]["Attributes"]["name"], "p-live:1", "{e}");
}
