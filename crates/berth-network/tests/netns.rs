//! Network namespaces against the real kernel: created and bind-mounted from a thread,
//! `lo` up inside, entered for work, removed idempotently.

mod common;

use std::net::{TcpListener, TcpStream};

use berth_network::netns::{create_netns, in_netns, remove_netns};
use berth_network::{link, NetError};
use common::*;

#[test]
fn create_enter_and_remove() {
    if !root_or_skip("creating network namespaces") {
        return;
    }
    in_fresh_netns(|| {
        let dir = tempfile::tempdir().unwrap();
        let ns = Netns::create(dir.path(), "c1");
        let here = current_netns_id();

        // The calling thread has not moved; a thread entering the namespace has.
        let inside = in_netns(&ns.path, current_netns_id).unwrap();
        assert_ne!(inside, here);
        assert_eq!(current_netns_id(), here);
        assert_eq!(in_netns(&ns.path, current_netns_id).unwrap(), inside);

        // lo is up with 127.0.0.1, and usable from inside.
        let lo = link::link_details_in(&ns.path, "lo").unwrap().expect("lo");
        assert!(lo.up);
        assert!(
            lo.addresses.contains(&"127.0.0.1/8".parse().unwrap()),
            "{lo:?}"
        );
        let echoed = in_netns(&ns.path, || {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (s, _) = l.accept().unwrap();
            (c.local_addr().unwrap(), s.peer_addr().unwrap())
        })
        .unwrap();
        assert_eq!(echoed.0, echoed.1);
        // Only lo: nothing of the creator's namespace leaked in.
        let inside_links = in_netns(&ns.path, link::link_names).unwrap().unwrap();
        assert_eq!(inside_links, vec!["lo".to_string()]);

        // A socket opened inside keeps working from outside.
        let listener = in_netns(&ns.path, || TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
        in_netns(&ns.path, move || {
            TcpStream::connect(("127.0.0.1", port)).unwrap()
        })
        .unwrap();

        // A second create on a live namespace is refused.
        assert!(matches!(create_netns(&ns.path), Err(NetError::Conflict(_))));

        remove_netns(&ns.path).unwrap();
        assert!(!ns.path.exists());
        remove_netns(&ns.path).unwrap();
        assert!(matches!(
            in_netns(&ns.path, || ()),
            Err(NetError::Io { .. })
        ));
    });
}

#[test]
fn leftover_file_is_reused_and_plain_files_are_not_namespaces() {
    if !root_or_skip("creating network namespaces") {
        return;
    }
    in_fresh_netns(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("left");
        // What a crash between creating the file and mounting leaves behind.
        std::fs::File::create(&path).unwrap();
        assert!(matches!(in_netns(&path, || ()), Err(NetError::NotFound(_))));
        create_netns(&path).unwrap();
        let ns = Netns { path };
        assert!(in_netns(&ns.path, || ()).is_ok());
    });
}
