//! `p2pos up`: the demo family on one machine — a hub with embedded STUN/TURN and two nodes, Oak
//! and Pine, each its own process, with their data under one folder. Once Oak is claimed (in the
//! browser, with its setup code) Pine is enrolled with it, and replication runs over WebRTC.
//! Ctrl-C stops everything; the next `p2pos up` on the same folder resumes the same family.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use p2pos_net::clock::now_ms;
use p2pos_node::enroll::{self, DataDir};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::cli::UpArgs;

struct Proc {
    name: &'static str,
    child: Child,
}

pub fn run(args: UpArgs) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(up(args))
}

async fn up(args: UpArgs) -> Result<()> {
    let exe = std::env::current_exe().context("finding the p2pos binary")?;
    let dir = args.dir.clone();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let host = args.host;
    let hub_url = format!("ws://{host}:{}/v1/ws", args.hub_port);
    let oak_dir = dir.join("oak");
    let pine_dir = dir.join("pine");
    // Read before the nodes start (they open the same databases).
    let mut enrolled = already_enrolled(&oak_dir, &pine_dir);
    let (lines_tx, mut lines) = mpsc::unbounded_channel::<(&'static str, String)>();

    let mut procs = Vec::new();
    let hub = spawn(
        &exe,
        "hub",
        &[
            "signal".into(),
            "--listen".into(),
            format!("{host}:{}", args.hub_port),
            "--dev".into(),
            "--embedded-turn".into(),
            format!("{host}:{}", args.turn_port),
            "--turn-allow-private-peers".into(),
            // The hub serves the web app too: Drop, Gallery, and the vault from anywhere.
            "--web-dir".into(),
            args.web_dir.display().to_string(),
        ],
        &lines_tx,
    )?;
    procs.push(hub);
    let url = |port: u16| format!("http://{host}:{port}");
    for (name, label, port) in [("Oak", "oak", args.oak_port), ("Pine", "pine", args.pine_port)] {
        let data = dir.join(label);
        let mut node_args: Vec<String> = vec![
            "node".into(),
            "--data-dir".into(),
            data.display().to_string(),
            "--listen".into(),
            format!("{host}:{port}"),
            "--public-url".into(),
            url(port),
            "--name".into(),
            name.into(),
            "--hub".into(),
            hub_url.clone(),
            "--rtc-bind".into(),
            format!("{host}:0"),
            "--web-dir".into(),
            args.web_dir.display().to_string(),
        ];
        // Pine joins Oak's family (enrolled below): it has no setup code of its own.
        if label == "pine" {
            node_args.push("--joining".into());
        }
        procs.push(spawn(&exe, label, &node_args, &lines_tx)?);
    }
    drop(lines_tx);

    println!();
    println!("  The demo family is starting (data in {}):", dir.display());
    println!("    Oak   {}   (open this first)", url(args.oak_port));
    println!("    Pine  {}   (joins Oak's family by itself once you have claimed Oak)", url(args.pine_port));
    println!("    hub   {}   (Drop, Gallery, and each node's vault from anywhere)", url(args.hub_port));
    println!("          {hub_url}, embedded STUN/TURN on {host}:{}", args.turn_port);
    println!();

    if enrolled {
        println!("  Oak and Pine already know each other: replication resumes. Ctrl-C stops everything.");
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let stop = crate::node_cmd::shutdown_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            line = lines.recv() => match line {
                Some((who, text)) => {
                    if who == "oak" && let Some(code) = text.split("Setup code: ").nth(1) {
                        println!();
                        println!("  Oak's setup code: {}", code.trim());
                        println!("  Open {} in Chromium, create your identity, back it up, and enter this code:", url(args.oak_port));
                        println!("  you found the family and become its first admin. Pine joins it by itself.");
                        println!();
                    } else if (who == "oak" && text.starts_with("In a browser, open the address below"))
                        || (who == "pine" && text.starts_with("This node joins an existing family"))
                    {
                        // The nodes' own instructions, said in this demo's words above and below.
                    } else {
                        eprintln!("[{who}] {text}");
                    }
                }
                None => break,
            },
            _ = tick.tick(), if !enrolled => {
                match try_enroll(&oak_dir, &pine_dir, &hub_url).await {
                    Ok(true) => {
                        enrolled = true;
                        println!();
                        println!("  Pine is enrolled with Oak: photos replicate between them (Nodes page shows how).");
                        println!("  Sign in at {} with the same identity (restore your backup) to see them there.", url(args.pine_port));
                        println!();
                    }
                    Ok(false) => {}
                    Err(e) => eprintln!("[up] enrolling Pine with Oak failed ({e:#}); retrying"),
                }
            }
        }
        // A node that goes away (killed to show that the family keeps working) is reported and
        // left down; without the hub nothing works, so its end stops everything.
        let exited = procs.iter_mut().position(|p| p.child.try_wait().ok().flatten().is_some());
        if let Some(i) = exited {
            let gone = procs.remove(i);
            if gone.name == "hub" {
                eprintln!("[up] the hub exited; stopping the family");
                stop_all(&mut procs).await;
                bail!("the hub exited");
            }
            eprintln!("[up] {} exited; the others keep running (run `p2pos up` again to bring it back)", gone.name);
        }
    }
    println!("  stopping the demo family…");
    stop_all(&mut procs).await;
    Ok(())
}

fn spawn(
    exe: &Path,
    name: &'static str,
    args: &[String],
    lines: &mpsc::UnboundedSender<(&'static str, String)>,
) -> Result<Proc> {
    let mut child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    if let Some(out) = child.stdout.take() {
        tokio::spawn(forward(name, out, lines.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(forward(name, err, lines.clone()));
    }
    Ok(Proc { name, child })
}

/// Hand each line a child prints to the main loop, tagged with the child's name.
async fn forward(
    name: &'static str,
    stream: impl tokio::io::AsyncRead + Unpin,
    lines: mpsc::UnboundedSender<(&'static str, String)>,
) {
    let mut reader = BufReader::new(stream).lines();
    while let Ok(Some(line)) = reader.next_line().await {
        if lines.send((name, line)).is_err() {
            break;
        }
    }
}

/// SIGTERM each child (graceful: nodes finish their writes), then SIGKILL what is left after 10 s.
async fn stop_all(procs: &mut [Proc]) {
    for p in procs.iter() {
        if let Some(pid) = p.child.id().and_then(|pid| rustix::process::Pid::from_raw(pid as i32)) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }
    for p in procs.iter_mut() {
        if tokio::time::timeout(Duration::from_secs(10), p.child.wait()).await.is_err() {
            let _ = p.child.kill().await;
        }
    }
}

fn already_enrolled(oak: &Path, pine: &Path) -> bool {
    if !pine.join("p2pos.db").exists() || !oak.join("node.key").exists() {
        return false;
    }
    let Ok(pine_dir) = DataDir::open(pine) else { return false };
    let Ok(oak_dir) = DataDir::open(oak) else { return false };
    pine_dir.peers().is_ok_and(|peers| peers.iter().any(|p| p.node == oak_dir.node_id()))
}

/// Enrol Pine with Oak once Oak has a family. Ok(false): not yet claimed.
async fn try_enroll(oak: &Path, pine: &Path, hub: &str) -> Result<bool> {
    let oak_dir = DataDir::open(oak)?;
    let Some(family) = oak_dir.family()? else { return Ok(false) };
    let token = enroll::issue(&oak_dir.db, oak_dir.node_id(), &family, hub, now_ms())?;
    let pine_dir = DataDir::open(pine)?;
    let name = pine_dir.setting("name")?.unwrap_or_else(|| "Pine".into());
    let url = pine_dir.setting("public_url")?;
    let (peer, _) = enroll::join(&token, &pine_dir.key, &name, url.as_deref(), Duration::from_secs(20)).await?;
    enroll::pin(&pine_dir.db, &peer)?;
    Ok(true)
}
