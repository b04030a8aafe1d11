//! Learning when processes exit without being their parent: one thread waits on the
//! pidfds of every watched process with epoll and resolves a future per process. One
//! thread serves all containers, whether their shim is our child or a restored orphan.

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use rustix::event::epoll;
use tokio::sync::oneshot;

/// pidfd key → (pidfd, who to tell).
type Waiting = Arc<Mutex<HashMap<u64, (OwnedFd, oneshot::Sender<()>)>>>;

pub struct PidWatcher {
    epoll: Arc<OwnedFd>,
    waiting: Waiting,
    next: Mutex<u64>,
}

impl PidWatcher {
    pub fn start() -> std::io::Result<PidWatcher> {
        let ep = Arc::new(epoll::create(epoll::CreateFlags::CLOEXEC)?);
        let waiting: Waiting = Arc::default();
        let (ep2, w2) = (ep.clone(), waiting.clone());
        std::thread::Builder::new()
            .name("pidwatch".into())
            .spawn(move || {
                let empty = epoll::Event {
                    flags: epoll::EventFlags::empty(),
                    data: epoll::EventData::new_u64(0),
                };
                let mut buf = [empty; 32];
                loop {
                    let n = match epoll::wait(&*ep2, &mut buf[..], None) {
                        Ok(n) => n,
                        Err(rustix::io::Errno::INTR) => continue,
                        Err(e) => {
                            tracing::error!(error = %e, "pid watcher stopped");
                            return;
                        }
                    };
                    for ev in &buf[..n] {
                        let key = ev.data.u64();
                        let entry = w2.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
                        if let Some((fd, tx)) = entry {
                            let _ = epoll::delete(&*ep2, &fd);
                            let _ = tx.send(());
                        }
                    }
                }
            })?;
        Ok(PidWatcher {
            epoll: ep,
            waiting,
            next: Mutex::new(1),
        })
    }

    /// Resolves when `pid` has exited (at once if it is already gone).
    pub fn wait(&self, pid: i32) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let Some(p) = rustix::process::Pid::from_raw(pid) else {
            let _ = tx.send(());
            return rx;
        };
        let fd = match rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) {
            Ok(fd) => fd,
            Err(_) => {
                let _ = tx.send(());
                return rx;
            }
        };
        let key = {
            let mut n = self.next.lock().unwrap_or_else(|p| p.into_inner());
            *n += 1;
            *n
        };
        // Registered in the map before epoll, so the thread always finds the entry.
        let mut map = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = epoll::add(
            &*self.epoll,
            &fd,
            epoll::EventData::new_u64(key),
            epoll::EventFlags::IN,
        ) {
            tracing::warn!(pid, error = %e, "cannot watch process");
            let _ = tx.send(());
            return rx;
        }
        map.insert(key, (fd, tx));
        rx
    }
}
