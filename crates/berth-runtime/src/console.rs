//! Terminals for containers and exec sessions. The pseudo-terminal is opened inside the
//! container (its own `/dev/pts` instance), so `tty` and `ttyname` work there; its master
//! goes back to the caller over a unix socket (runc's console socket, without a path).

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use rustix::pty::OpenptFlags;

use crate::RuntimeError;

fn err(what: &str) -> impl FnOnce(rustix::io::Errno) -> RuntimeError + '_ {
    move |e| RuntimeError::Init(format!("{what}: {e}"))
}

/// In the container (after its root is in place): opens a terminal, makes its slave the
/// process's stdio and controlling terminal, and sends the master over `socket`.
pub(crate) fn setup(socket: &OwnedFd) -> Result<(), RuntimeError> {
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .map_err(err("opening /dev/ptmx"))?;
    rustix::pty::grantpt(&master).map_err(err("grantpt"))?;
    rustix::pty::unlockpt(&master).map_err(err("unlockpt"))?;
    let name = rustix::pty::ptsname(&master, Vec::new()).map_err(err("ptsname"))?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(err("opening the terminal"))?;
    let dup = |e: nix::Error| RuntimeError::Init(format!("dup2 terminal: {e}"));
    nix::unistd::dup2_stdin(&slave).map_err(dup)?;
    nix::unistd::dup2_stdout(&slave).map_err(dup)?;
    nix::unistd::dup2_stderr(&slave).map_err(dup)?;
    drop(slave);
    rustix::process::ioctl_tiocsctty(std::io::stdin())
        .map_err(err("setting the controlling terminal"))?;
    send(socket, &master)
}

/// Sends a terminal's master over a unix socket (runc's console-socket protocol: one
/// byte of payload, the descriptor as SCM_RIGHTS).
pub fn send(socket: impl AsFd, fd: impl AsFd) -> Result<(), RuntimeError> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd.as_fd()];
    control.push(SendAncillaryMessage::ScmRights(&fds));
    rustix::net::sendmsg(
        &socket,
        &[IoSlice::new(b"t")],
        &mut control,
        SendFlags::empty(),
    )
    .map_err(err("sending the terminal"))?;
    Ok(())
}

/// The caller's side: waits for the terminal's master on `socket`. End of file means the
/// process failed before opening one.
pub fn receive(socket: impl AsFd) -> Result<OwnedFd, RuntimeError> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    let msg = rustix::net::recvmsg(
        &socket,
        &mut [IoSliceMut::new(&mut byte)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(err("receiving the terminal"))?;
    if msg.bytes == 0 {
        return Err(RuntimeError::Init("no terminal was sent".into()));
    }
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = m {
            if let Some(fd) = fds.next() {
                return Ok(fd);
            }
        }
    }
    Err(RuntimeError::Init("no terminal was sent".into()))
}
