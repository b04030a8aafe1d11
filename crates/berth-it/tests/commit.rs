//! `docker diff` and `docker commit` through the real docker CLI: the A/C/D listing
//! over image layers with whiteouts and opaque directories, the committed image's
//! config, history, parent and layer, commits of running containers, and containers
//! that plant symlinks to host paths.

use berth_it::archive::tar_contents;
use berth_it::{fixtures, is_digest, lines, unix_now, wait_for, Daemon, HttpResponse};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Read;

/// `docker diff`. The daemon's own per-container files (`/.dockerenv`, `/etc/hosts` …)
/// live in the init layer below the writable one, so they never show.
fn diff(d: &Daemon, c: &str) -> Vec<String> {
    lines(&d.docker(["diff", c]).ok())
}

/// A request with a JSON body, as the docker CLI sends them.
fn http_json(d: &Daemon, method: &str, path: &str, body: &Value) -> HttpResponse {
    let body = serde_json::to_vec(body).unwrap();
    berth_it::http::request(
        &d.socket,
        method,
        path,
        &[("Content-Type", "application/json")],
        Some(&body),
        std::time::Duration::from_secs(60),
    )
    .unwrap()
}

/// An entry of a layer tar.
#[derive(Debug, Clone, PartialEq, Eq)]
enum E {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    Link(String),
    Other,
}

/// The entries of the top layer of `image`, read from `docker save`.
fn top_layer(d: &Daemon, image: &str) -> BTreeMap<String, E> {
    let out = d.docker(["save", image]).run();
    assert!(out.success(), "{out}");
    let (files, _) = tar_contents(&out.raw_stdout).unwrap();
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let layer = manifest[0]["Layers"]
        .as_array()
        .and_then(|l| l.last())
        .and_then(Value::as_str)
        .expect("a layer")
        .to_string();
    let mut ar = tar::Archive::new(&files[&layer][..]);
    let mut out = BTreeMap::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let link = e
            .link_name_bytes()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .unwrap_or_default();
        let kind = match e.header().entry_type() {
            tar::EntryType::Directory => E::Dir,
            tar::EntryType::Regular => {
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                E::File(data)
            }
            tar::EntryType::Symlink => E::Symlink(link),
            tar::EntryType::Link => E::Link(link),
            _ => E::Other,
        };
        out.insert(name, kind);
    }
    out
}

#[test]
fn diff_lists_added_changed_and_deleted_files_over_image_layers() {
    let d = Daemon::with_busybox();
    d.load(&fixtures().layered);
    // The layered image: /opaque holds only new.txt (an opaque dir of layer 3 hides
    // old-a.txt and sub/), /olddir was deleted by a whiteout, /data/kind became a dir.
    d.docker([
        "run",
        "--name",
        "ctr",
        "berth-test/layered",
        "sh",
        "-c",
        "echo new > /data/new.txt; echo more >> /data/keep.txt; rm /data/replace.txt; \
         rm -rf /data/kind; rm /etc/layered-release; rm /bin/ls; mkdir /olddir; \
         rm -rf /opaque && mkdir /opaque && echo x > /opaque/fresh",
    ])
    .ok();
    assert_eq!(
        diff(&d, "ctr"),
        [
            "C /bin",
            "D /bin/ls",
            "C /data",
            "C /data/keep.txt",
            "D /data/kind",
            "A /data/new.txt",
            "D /data/replace.txt",
            "C /etc",
            "D /etc/layered-release",
            "A /olddir",
            "C /opaque",
            "A /opaque/fresh",
            "D /opaque/new.txt",
        ]
    );
    // The API's numbers: 0 modified, 1 added, 2 deleted.
    let r = d.http("GET", "/v1.47/containers/ctr/changes");
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let kinds: BTreeMap<String, u64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["Path"].as_str().unwrap().to_string(),
                c["Kind"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds["/data"], 0);
    assert_eq!(kinds["/data/new.txt"], 1);
    assert_eq!(kinds["/data/replace.txt"], 2);

    // A container that changed nothing has nothing to show.
    d.docker(["run", "--name", "idle", "busybox", "true"]).ok();
    assert!(diff(&d, "idle").is_empty(), "{:?}", diff(&d, "idle"));
}

#[test]
fn diff_and_commit_of_a_missing_container_are_docker_errors() {
    let d = Daemon::with_busybox();
    let out = d.docker(["diff", "nope"]).fails();
    assert!(
        out.stderr
            .contains("Error response from daemon: No such container: nope"),
        "{out}"
    );
    let r = d.http("GET", "/v1.47/containers/nope/changes");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], json!("No such container: nope"));
    let out = d.docker(["commit", "nope", "x:1"]).fails();
    assert!(
        out.stderr
            .contains("Error response from daemon: No such container: nope"),
        "{out}"
    );

    d.docker(["create", "--name", "ctr", "busybox", "true"])
        .ok();
    let out = d.docker(["commit", "-c", "RUN rm -rf /", "ctr"]).fails();
    assert!(
        out.stderr.contains("run is not a valid change command"),
        "{out}"
    );
    // The CLI checks references itself; the API answers 400 before committing anything.
    let before = d.image_ids();
    let r = d.http("POST", "/v1.47/commit?container=ctr&repo=Bad_Name");
    assert_eq!(r.status, 400, "{}", r.text());
    let r = d.http("POST", "/v1.47/commit?container=ctr&repo=ok&tag=bad%20tag");
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(d.image_ids(), before, "no image was left behind");
}

#[test]
fn commit_with_author_message_and_changes() {
    let d = Daemon::with_busybox();
    let bb = d.fmt("busybox", "{{.Id}}");
    d.docker([
        "run",
        "--name",
        "ctr",
        "-e",
        "RUNENV=1",
        "-l",
        "from=container",
        "busybox",
        "sh",
        "-c",
        "echo committed > /marker; mkdir /app; echo app > /app/file",
    ])
    .ok();
    let cid = d.inspect_fmt("ctr", "{{.Id}}");
    let since = unix_now();
    let id = d
        .docker([
            "commit",
            "-a",
            "Berth Tester <bt@example.test>",
            "-m",
            "add marker",
            "-c",
            "CMD [\"cat\", \"/marker\"]",
            "-c",
            "ENV COMMITTED=1",
            "-c",
            "WORKDIR /app",
            "-c",
            "LABEL stage=commit",
            "-c",
            "EXPOSE 7000",
            "-c",
            "USER nobody",
            "-c",
            "VOLUME /data",
            "-c",
            "STOPSIGNAL SIGINT",
            "-c",
            "ONBUILD RUN true",
            "-c",
            "HEALTHCHECK NONE",
            "ctr",
            "img:v1",
        ])
        .ok()
        .trim()
        .to_string();
    assert!(is_digest(&id), "{id}");
    assert_eq!(d.fmt("img:v1", "{{.Id}}"), id);

    let i = d.inspect("img:v1");
    assert_eq!(i["Author"], json!("Berth Tester <bt@example.test>"));
    assert_eq!(i["Comment"], json!("add marker"));
    assert_eq!(i["Parent"], json!(bb));
    assert_eq!(i["Container"], json!(cid));
    assert!(!i["DockerVersion"].as_str().unwrap().is_empty());
    let c = &i["Config"];
    assert_eq!(c["Cmd"], json!(["cat", "/marker"]));
    assert_eq!(
        c["Env"],
        json!([
            "RUNENV=1",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "COMMITTED=1"
        ])
    );
    assert_eq!(c["WorkingDir"], json!("/app"));
    assert_eq!(c["User"], json!("nobody"));
    assert_eq!(c["Labels"], json!({"from": "container", "stage": "commit"}));
    assert_eq!(c["ExposedPorts"], json!({"7000/tcp": {}}));
    assert_eq!(c["Volumes"], json!({"/data": {}}));
    assert_eq!(c["StopSignal"], json!("SIGINT"));
    assert_eq!(c["OnBuild"], json!(["RUN true"]));
    assert_eq!(c["Healthcheck"], json!({"Test": ["NONE"]}));
    // The container's own config is kept as it was.
    let cc = &i["ContainerConfig"];
    assert_eq!(
        cc["Cmd"],
        json!([
            "sh",
            "-c",
            "echo committed > /marker; mkdir /app; echo app > /app/file"
        ])
    );
    assert_eq!(cc["WorkingDir"], json!(""));
    assert_eq!(i["RootFS"]["Layers"].as_array().unwrap().len(), 2);

    let hist = lines(
        &d.docker([
            "history",
            "--no-trunc",
            "--format",
            "{{.ID}}|{{.CreatedBy}}|{{.Comment}}",
            "img:v1",
        ])
        .ok(),
    );
    assert_eq!(
        hist[0],
        format!("{id}|sh -c echo committed > /marker; mkdir /app; echo app > /app/file|add marker")
    );
    assert_eq!(hist[1], format!("{bb}|CMD [\"sh\"]|"));

    // It runs, with the files and the committed config.
    assert_eq!(d.docker(["run", "--rm", "img:v1"]).ok().trim(), "committed");
    assert_eq!(
        lines(
            &d.docker([
                "run",
                "--rm",
                "img:v1",
                "sh",
                "-c",
                "pwd; id -un; cat /app/file; echo $COMMITTED"
            ])
            .ok()
        ),
        ["/app", "nobody", "app", "1"]
    );

    // Docker's container event, with the new image.
    let until = unix_now() + 1;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let ev = lines(
        &d.docker([
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until.to_string(),
            "--filter",
            "event=commit",
            "--format",
            "{{.Type}} {{.Actor.ID}} {{.Actor.Attributes.imageID}} {{.Actor.Attributes.imageRef}} {{.Actor.Attributes.comment}}",
        ])
        .ok(),
    );
    assert_eq!(
        ev,
        [format!("container {cid} {id} img:v1 add marker")],
        "commit event"
    );

    // A commit with a body config (the API's) replaces the container's, filled from it.
    let r = http_json(
        &d,
        "POST",
        "/v1.47/commit?container=ctr&repo=img&tag=api",
        &json!({"Cmd": ["echo", "from api"], "Entrypoint": ["/bin/sh", "-c"]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let api_id = r.json()["Id"].as_str().unwrap().to_string();
    assert!(is_digest(&api_id));
    let c = &d.inspect("img:api")["Config"];
    assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c"]));
    assert_eq!(c["Cmd"], json!(["echo", "from api"]));
    assert_eq!(c["Labels"], json!({"from": "container"}));
    d.assert_store_consistent("after commits");
}

#[test]
fn commit_of_a_running_container_pauses_it_and_keeps_it_running() {
    let d = Daemon::with_busybox();
    d.docker([
        "run",
        "-d",
        "--name",
        "run1",
        "busybox",
        "sh",
        "-c",
        "echo live > /live; sleep 300",
    ])
    .ok();
    wait_for("/live", || {
        d.docker(["exec", "run1", "test", "-f", "/live"])
            .run()
            .success()
    });
    let since = unix_now();
    d.docker(["commit", "run1", "img:live"]).ok();
    d.docker(["commit", "--pause=false", "run1", "img:nopause"])
        .ok();
    assert_eq!(d.inspect_fmt("run1", "{{.State.Status}}"), "running");
    assert_eq!(
        d.docker(["run", "--rm", "img:live", "cat", "/live"])
            .ok()
            .trim(),
        "live"
    );
    assert_eq!(
        d.docker(["run", "--rm", "img:nopause", "cat", "/live"])
            .ok()
            .trim(),
        "live"
    );
    assert_eq!(
        d.fmt("img:live", "{{json .Config.Cmd}}"),
        r#"["sh","-c","echo live > /live; sleep 300"]"#
    );
    let until = unix_now() + 1;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let ev = lines(
        &d.docker([
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until.to_string(),
            "--filter",
            "container=run1",
            "--filter",
            "event=pause",
            "--filter",
            "event=unpause",
            "--filter",
            "event=commit",
            "--format",
            "{{.Action}}",
        ])
        .ok(),
    );
    // Docker's order: the commit is logged before the unpause.
    assert_eq!(ev, ["pause", "commit", "unpause", "commit"], "{ev:?}");
    // Still alive and not frozen: it answers an exec.
    assert_eq!(
        d.docker(["exec", "run1", "cat", "/live"]).ok().trim(),
        "live"
    );
    d.docker(["rm", "-f", "run1"]).ok();
}

#[test]
fn commit_without_a_tag_gives_a_dangling_image() {
    let d = Daemon::with_busybox();
    d.docker(["run", "--name", "ctr", "busybox", "sh", "-c", "echo x > /x"])
        .ok();
    let id = d.docker(["commit", "ctr"]).ok().trim().to_string();
    assert!(is_digest(&id), "{id}");
    assert_eq!(d.fmt(&id, "{{json .RepoTags}}"), "[]");
    let dangling = lines(
        &d.docker(["images", "-q", "--no-trunc", "--filter", "dangling=true"])
            .ok(),
    );
    assert_eq!(dangling, std::slice::from_ref(&id));
    // The container still uses busybox, not the new image: it deletes.
    let out = lines(&d.docker(["rmi", &id]).ok());
    assert_eq!(out.len(), 2, "the image and its layer: {out:?}");
    assert!(out.iter().all(|l| l.starts_with("Deleted: sha256:")));
    assert_eq!(
        d.fmt("busybox", "{{json .RepoTags}}"),
        r#"["busybox:latest"]"#
    );
}

#[test]
fn a_committed_image_keeps_deletions_and_commits_again() {
    let d = Daemon::with_busybox();
    d.load(&fixtures().layered);
    d.docker([
        "run",
        "--name",
        "c1",
        "berth-test/layered",
        "sh",
        "-c",
        "rm /data/keep.txt; rm -rf /opaque && mkdir /opaque && echo z > /opaque/z; chmod 4755 /bin/busybox",
    ])
    .ok();
    d.docker(["commit", "c1", "img:1"]).ok();
    let layer = top_layer(&d, "img:1");
    assert_eq!(layer.get("data/.wh.keep.txt"), Some(&E::File(Vec::new())));
    assert_eq!(layer.get("opaque/.wh..wh..opq"), Some(&E::File(Vec::new())));
    assert_eq!(layer.get("opaque/z"), Some(&E::File(b"z\n".to_vec())));
    assert_eq!(
        lines(
            &d.docker([
                "run",
                "--rm",
                "img:1",
                "sh",
                "-c",
                "ls /data; echo --; ls -A /opaque; stat -c %a /bin/busybox"
            ])
            .ok()
        ),
        [
            "hardlink-to-keep",
            "kind",
            "link-to-keep",
            "owned-by-nobody",
            "replace.txt",
            "--",
            "z",
            "4755"
        ]
    );
    // A commit of a container of the committed image: one more layer and parent.
    d.docker([
        "run",
        "--name",
        "c2",
        "img:1",
        "sh",
        "-c",
        "echo two > /two; rm /opaque/z",
    ])
    .ok();
    assert_eq!(diff(&d, "c2"), ["C /opaque", "D /opaque/z", "A /two"]);
    d.docker(["commit", "-m", "second", "c2", "img:2"]).ok();
    assert_eq!(d.fmt("img:2", "{{.Parent}}"), d.fmt("img:1", "{{.Id}}"));
    assert_eq!(d.fmt("img:2", "{{len .RootFS.Layers}}"), "6");
    let ids = lines(&d.docker(["history", "-q", "--no-trunc", "img:2"]).ok());
    assert_eq!(ids[0], d.fmt("img:2", "{{.Id}}"));
    assert_eq!(ids[1], d.fmt("img:1", "{{.Id}}"));
    assert_eq!(ids[2], d.fmt("berth-test/layered", "{{.Id}}"));
    assert_eq!(
        d.docker([
            "run",
            "--rm",
            "img:2",
            "sh",
            "-c",
            "cat /two; ls -A /opaque"
        ])
        .ok()
        .trim(),
        "two"
    );
    // A parent with children is not deleted.
    d.docker(["rm", "c2"]).ok();
    let out = d
        .docker(["rmi", d.fmt("img:1", "{{.Id}}").as_str()])
        .fails();
    assert!(
        out.stderr.contains("image has dependent child images"),
        "{out}"
    );
    d.assert_store_consistent("after two commits");
}

#[test]
fn planted_links_are_committed_as_links_and_never_followed() {
    let d = Daemon::with_busybox();
    d.docker([
        "run",
        "--name",
        "hostile",
        "busybox",
        "sh",
        "-c",
        "ln -s /etc/shadow /x; ln -s /etc /d; ln -s ../../../../../.. /up; \
         echo f > /f; ln /f /hl; mkdir /sub; ln -s /etc/passwd /sub/pw",
    ])
    .ok();
    assert_eq!(
        diff(&d, "hostile"),
        [
            "A /d",
            "A /f",
            "A /hl",
            "A /sub",
            "A /sub/pw",
            "A /up",
            "A /x"
        ]
    );
    d.docker(["commit", "hostile", "hostile:1"]).ok();
    let layer = top_layer(&d, "hostile:1");
    assert_eq!(layer["x"], E::Symlink("/etc/shadow".into()));
    assert_eq!(layer["d"], E::Symlink("/etc".into()));
    assert_eq!(layer["up"], E::Symlink("../../../../../..".into()));
    assert_eq!(layer["sub/pw"], E::Symlink("/etc/passwd".into()));
    assert_eq!(layer["f"], E::File(b"f\n".to_vec()));
    assert_eq!(layer["hl"], E::Link("f".into()));
    let names: Vec<&String> = layer.keys().collect();
    assert_eq!(
        names,
        ["d", "f", "hl", "sub/", "sub/pw", "up", "x"],
        "nothing behind the links was archived"
    );
    // In the new image the links resolve inside its own root.
    assert_eq!(
        lines(
            &d.docker([
                "run",
                "--rm",
                "hostile:1",
                "sh",
                "-c",
                "readlink /x; head -1 /d/passwd; cat /hl"
            ])
            .ok()
        ),
        ["/etc/shadow", "root:x:0:0:root:/root:/bin/sh", "f"]
    );
}

/// A running container swapping a directory for a symlink to `/etc` while it is
/// committed without pause: berth must never archive the host's `/etc/passwd`.
#[test]
fn a_container_swapping_dirs_for_symlinks_during_commit_cannot_leak_host_files() {
    let d = Daemon::with_busybox();
    let host_passwd = std::fs::read("/etc/passwd").unwrap();
    d.docker([
        "run",
        "-d",
        "--name",
        "swapper",
        "busybox",
        "sh",
        "-c",
        "mkdir /dir; echo inside > /dir/passwd; echo ready > /ready; \
         while true; do mv /dir /dir2; ln -s /etc /dir; rm /dir; mv /dir2 /dir; done",
    ])
    .ok();
    wait_for("the swapping loop", || {
        d.docker(["exec", "swapper", "test", "-f", "/ready"])
            .run()
            .success()
    });
    for i in 0..8 {
        let tag = format!("swap:{i}");
        d.docker(["commit", "--pause=false", "swapper", &tag]).ok();
        for (name, e) in top_layer(&d, &tag) {
            if let E::File(data) = e {
                assert!(
                    data != host_passwd && !(data.len() > 20 && host_passwd.starts_with(&data)),
                    "{name} holds host content"
                );
                if name.ends_with("passwd") {
                    assert_eq!(data, b"inside\n", "{name}");
                }
            }
        }
        let _ = d.docker(["diff", "swapper"]).run();
    }
    d.docker(["rm", "-f", "swapper"]).ok();
}
