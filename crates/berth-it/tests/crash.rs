//! Crash safety: `kill -9` of berthd at a random moment during loads and
//! deletes; the next start must open a consistent store.

use berth_it::fsutil::{layer_dirs, leftovers};
use berth_it::{chain_ids, fixtures, random_u64, Daemon};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

const ITERATIONS: usize = 15;
const MIN_ITERATIONS: usize = 6;
const BUDGET: Duration = Duration::from_secs(50);
const MAX_DELAY_MS: u64 = 300;

/// Wait for a CLI whose daemon was killed (it must notice the closed socket);
/// true if it had finished its work before (exit 0).
fn reap(mut c: Child, what: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(st) = c.try_wait().expect("wait cli") {
            return st.success();
        }
        if Instant::now() > deadline {
            let _ = c.kill();
            let _ = c.wait();
            panic!("`{what}` did not end after its daemon was killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Layer store invariants once the restarted daemon has cleaned up: no
/// temporary leftovers, every `layers/<n>` complete (layer.json + diff/), no
/// chain id twice, and every layer of every image present.
fn layer_store_problems(d: &Daemon, image_diff_ids: &[Vec<String>]) -> Vec<String> {
    let mut problems: Vec<String> = leftovers(&d.data_root)
        .into_iter()
        .map(|p| format!("temporary leftover {}", p.display()))
        .collect();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for l in layer_dirs(&d.data_root) {
        match (l.chain_id(), l.diff_id()) {
            (Some(c), Some(_)) if l.diff().is_dir() => {
                if let Some(other) = seen.insert(c.to_string(), l.dir.clone()) {
                    problems.push(format!(
                        "chain id {c} stored twice: {} and {}",
                        other.display(),
                        l.dir.display()
                    ));
                }
            }
            _ => problems.push(format!(
                "incomplete layer dir {} (layer.json {:?}, diff/ {})",
                l.dir.display(),
                l.json,
                l.diff().is_dir()
            )),
        }
    }
    for diffs in image_diff_ids {
        for c in chain_ids(diffs) {
            if !seen.contains_key(&c) {
                problems.push(format!("layer {c} of a listed image has no layer dir"));
            }
        }
    }
    problems
}

fn check(d: &Daemon, what: &str, known: &BTreeSet<String>) {
    let ids = d.assert_store_consistent(what);
    for id in &ids {
        assert!(
            known.contains(id),
            "{what}: unknown image {id} after restart (known: {known:?})"
        );
    }
    let diff_ids: Vec<Vec<String>> = ids
        .iter()
        .map(|id| {
            let v = d.inspect(id);
            v["RootFS"]["Layers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| x.as_str().unwrap_or("").to_string())
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    // startup cleanup may run in the background: give it a moment
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let problems = layer_store_problems(d, &diff_ids);
        if problems.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            panic!(
                "{what}: store not clean after restart:\n{}",
                problems.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn kill9_during_loads_and_deletes_keeps_the_store_consistent() {
    let f = fixtures();
    let images = [
        (&f.busybox, "busybox:latest", f.busybox_image().id),
        (
            &f.layered,
            "berth-test/layered:latest",
            f.layered_image().id,
        ),
    ];
    let known: BTreeSet<String> = images.iter().map(|i| i.2.clone()).collect();
    let mut d = Daemon::start();
    let start = Instant::now();
    let mut done = Vec::new();
    for i in 0..ITERATIONS {
        if start.elapsed() > BUDGET {
            break;
        }
        let r = random_u64();
        let (archive, tag, _) = &images[(r & 1) as usize];
        // Half loads of an absent image, half deletes of a present one (the
        // precondition is set up without interruption).
        let present = d.docker(["image", "inspect", tag]).run().success();
        let delete = (r >> 1) & 1 == 1;
        if delete && !present {
            d.load(archive);
        } else if !delete && present {
            d.docker(["rmi", "-f", tag]).ok();
        }
        let (op, child) = if delete {
            (
                format!("rmi -f {tag}"),
                d.docker(["rmi", "-f", tag]).spawn(),
            )
        } else {
            (
                format!("load {}", archive.display()),
                d.docker(["load", "-i"]).arg(archive).spawn(),
            )
        };
        // 0..=300 ms, skewed towards short delays (cube of a uniform number):
        // the CLI's own start-up and a load or rmi take only tens of ms, and
        // about half of the kills should land while the daemon is at work.
        let u = ((r >> 8) & 0xffff) as f64 / 65536.0;
        let delay = (MAX_DELAY_MS as f64 * u * u * u) as u64;
        std::thread::sleep(Duration::from_millis(delay));
        d.kill9();
        let finished = reap(child, &op);
        d.spawn();
        let what = format!(
            "iteration {i}: {op}, killed after {delay} ms ({})",
            if finished {
                "had finished"
            } else {
                "interrupted"
            }
        );
        check(&d, &what, &known);
        done.push(what);
    }
    assert!(
        done.len() >= MIN_ITERATIONS,
        "only {} iterations within {BUDGET:?}: {done:#?}",
        done.len()
    );

    // The store still takes new work: both images load with their ids.
    for (archive, tag, id) in &images {
        d.load(archive);
        assert_eq!(&d.fmt(tag, "{{.Id}}"), id);
    }
    check(&d, "after the crash loop, reloading both images", &known);
    eprintln!("crash loop: {} iterations\n{}", done.len(), done.join("\n"));
}

#[test]
fn kill9_mid_load_then_the_same_load_succeeds() {
    // A kill at the very start of a load (the body still streaming) must not
    // leave anything that makes the next load of the same archive fail.
    let f = fixtures();
    let mut d = Daemon::start();
    for delay in [0u64, 5, 20, 60] {
        let child = d.docker(["load", "-i"]).arg(&f.layered).spawn();
        std::thread::sleep(Duration::from_millis(delay));
        d.kill9();
        reap(child, "docker load");
        d.spawn();
        let out = d.load(&f.layered);
        assert!(
            out.contains("Loaded image: berth-test/layered:latest"),
            "load after a kill at {delay} ms: {out}"
        );
        assert_eq!(d.fmt("berth-test/layered", "{{.Id}}"), f.layered_image().id);
        d.docker(["rmi", "berth-test/layered"]).ok();
        let known: BTreeSet<String> = [f.layered_image().id].into_iter().collect();
        check(&d, &format!("kill at {delay} ms then reload + rmi"), &known);
    }
}
