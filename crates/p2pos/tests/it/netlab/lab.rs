//! The lab's network: Linux network namespaces joined by veth pairs, NAT done by iptables inside
//! the router namespaces, and nothing in the root namespace (no interface, route, rule or sysctl).
//!
//! Every namespace is named `p2l-<pid>-…` after the test process that made it. [`Lab::new`] first
//! removes labs whose process is gone (a run that was killed), and starts a watchdog (a shell in
//! its own process group) that removes this run's namespaces if the test process dies without
//! running [`Drop`] (Ctrl-C, SIGKILL). Dropping the [`Lab`] kills whatever still runs inside its
//! namespaces and deletes them, which also deletes their veths.

use std::io::Write as _;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};

/// Every lab namespace starts with this.
pub const PREFIX: &str = "p2l-";
/// The hub and coturn: "the internet's" well-known server (TEST-NET-3, RFC 5737).
pub const PUBLIC_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

/// How a home's router treats its hosts' traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// No NAT, no filtering: the hosts have public addresses (198.51.100.0/24, TEST-NET-2).
    Open,
    /// `MASQUERADE` (Linux keeps the source port, so one mapping per socket whatever the
    /// destination: endpoint-independent mapping) and only established/related traffic in
    /// (address-and-port-dependent filtering): a port-restricted cone.
    Cone,
    /// `MASQUERADE --random-fully`: a new random port per destination (symmetric), same filtering.
    Symmetric,
}

impl Nat {
    pub fn name(self) -> &'static str {
        match self {
            Nat::Open => "open",
            Nat::Cone => "cone",
            Nat::Symmetric => "symmetric",
        }
    }
}

/// A host namespace and its address on its home's LAN.
#[derive(Debug, Clone)]
pub struct Host {
    pub ns: String,
    pub addr: Ipv4Addr,
}

/// A router namespace and the hosts behind it.
#[derive(Debug, Clone)]
pub struct Home {
    pub router: String,
    pub nat: Nat,
    /// The router's public (WAN) address.
    pub wan: Ipv4Addr,
    pub hosts: Vec<Host>,
}

#[derive(Debug)]
pub struct Lab {
    /// `p2l-<pid>`: the prefix of this run's namespaces.
    pub run: String,
    /// The public namespace (hub, coturn, the "internet" bridge).
    pub public: String,
    namespaces: Vec<String>,
    /// The namespaces' inode numbers (`/run/netns/NAME`), by which a process is found to be
    /// inside one even after the name is gone.
    inodes: Vec<u64>,
    homes: u8,
    watchdog: Option<Child>,
}

/// Why the lab cannot run here (the test then passes as skipped), or `None`.
pub fn unavailable() -> Option<String> {
    if !rustix::process::getuid().is_root() {
        return Some("not root".into());
    }
    // Root without CAP_SYS_ADMIN (some containers) cannot make namespaces: try one.
    let probe = format!("{PREFIX}{}-probe", std::process::id());
    match Command::new("ip").args(["netns", "add", &probe]).output() {
        Ok(out) if out.status.success() => {
            let _ = Command::new("ip").args(["netns", "del", &probe]).status();
            None
        }
        Ok(out) => Some(format!("`ip netns add` failed: {}", String::from_utf8_lossy(&out.stderr).trim())),
        Err(e) => Some(format!("no `ip` command: {e}")),
    }
}

/// Commands the lab needs besides `ip` (the test fails, naming them, when one is missing).
pub fn missing_tools() -> Vec<&'static str> {
    [("iptables-restore", "iptables"), ("turnserver", "coturn"), ("curl", "curl"), ("sysctl", "procps")]
        .into_iter()
        .filter(|(tool, _)| {
            !std::env::var_os("PATH")
                .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
        })
        .map(|(_, package)| package)
        .collect()
}

impl Lab {
    /// A fresh lab with only the public namespace; stale labs of dead runs are removed first.
    /// `scratch` is the run's folder (logs, data dirs): the watchdog removes it too.
    pub fn new(scratch: &std::path::Path) -> Self {
        remove_stale_labs();
        let run = format!("{PREFIX}{}", std::process::id());
        // Leftovers of this very pid (a recycled pid of a killed run) go too.
        remove_namespaces(&run);
        let public = format!("{run}-pub");
        let mut lab =
            Self { run, public: public.clone(), namespaces: Vec::new(), inodes: Vec::new(), homes: 0, watchdog: None };
        lab.watchdog = Some(spawn_watchdog(&lab.run, scratch));
        lab.add_namespace(&public);
        ip(&["-n", &public, "link", "add", "inet", "type", "bridge"]);
        ip(&["-n", &public, "addr", "add", &format!("{PUBLIC_IP}/24"), "dev", "inet"]);
        ip(&["-n", &public, "link", "set", "inet", "up"]);
        // The public namespace routes between routers and the open homes' public subnets.
        sysctl(&public, "net.ipv4.ip_forward=1");
        // Everything else (another home's private address, say) vanishes, as on the internet.
        // Without a default route, sending there fails at once (ENETUNREACH), which the real
        // world never does, and coturn closes a relay whose socket sees that error. So the
        // default route leads to a gateway that does not exist: a veth into an empty namespace,
        // frames addressed to a made-up MAC (a permanent neighbour entry, so no ARP and no
        // "host unreachable" either), dropped there without a word.
        let void = format!("{}-void", lab.run);
        lab.add_namespace(&void);
        ip(&["link", "add", "void", "netns", &public, "type", "veth", "peer", "name", "sink", "netns", &void]);
        ip(&["-n", &void, "link", "set", "sink", "up"]);
        ip(&["-n", &public, "link", "set", "void", "up"]);
        ip(&[
            "-n",
            &public,
            "neigh",
            "add",
            "192.0.2.254",
            "lladdr",
            "02:00:00:00:00:01",
            "dev",
            "void",
            "nud",
            "permanent",
        ]);
        ip(&["-n", &public, "route", "add", "default", "via", "192.0.2.254", "dev", "void", "onlink"]);
        lab
    }

    fn add_namespace(&mut self, ns: &str) {
        ip(&["netns", "add", ns]);
        self.namespaces.push(ns.to_string());
        let inode = std::fs::metadata(format!("/run/netns/{ns}")).map(|m| std::os::unix::fs::MetadataExt::ino(&m));
        self.inodes.push(inode.unwrap());
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }

    /// A home: a router on the public bridge with `hosts` hosts behind it on one LAN.
    pub fn add_home(&mut self, nat: Nat, hosts: usize) -> Home {
        self.homes += 1;
        let i = self.homes;
        assert!(i < 16 && hosts <= 13, "the address plan fits 15 homes of up to 13 hosts");
        let router = format!("{}-r{i}", self.run);
        self.add_namespace(&router);
        let wan = Ipv4Addr::new(203, 0, 113, 10 + i);
        // The veth ends are created directly in their namespaces: nothing appears in the root one.
        let uplink = format!("r{i}");
        ip(&["link", "add", "wan", "netns", &router, "type", "veth", "peer", "name", &uplink, "netns", &self.public]);
        ip(&["-n", &self.public, "link", "set", &uplink, "master", "inet", "up"]);
        ip(&["-n", &router, "addr", "add", &format!("{wan}/24"), "dev", "wan"]);
        ip(&["-n", &router, "link", "set", "wan", "up"]);
        ip(&["-n", &router, "route", "add", "default", "via", &PUBLIC_IP.to_string()]);
        sysctl(&router, "net.ipv4.ip_forward=1");

        let (lan_gw, prefix_len, host_addr): (Ipv4Addr, u8, Box<dyn Fn(u8) -> Ipv4Addr>) = match nat {
            Nat::Open => {
                let base = 16 * i;
                ip(&["-n", &self.public, "route", "add", &format!("198.51.100.{base}/28"), "via", &wan.to_string()]);
                (
                    Ipv4Addr::new(198, 51, 100, base + 1),
                    28,
                    Box::new(move |k| Ipv4Addr::new(198, 51, 100, base + 2 + k)),
                )
            }
            Nat::Cone | Nat::Symmetric => {
                (Ipv4Addr::new(10, 0, i, 1), 24, Box::new(move |k| Ipv4Addr::new(10, 0, i, 2 + k)))
            }
        };
        ip(&["-n", &router, "link", "add", "lan", "type", "bridge"]);
        ip(&["-n", &router, "addr", "add", &format!("{lan_gw}/{prefix_len}"), "dev", "lan"]);
        ip(&["-n", &router, "link", "set", "lan", "up"]);
        let hosts = (0..hosts as u8)
            .map(|k| {
                let ns = format!("{}-h{i}{}", self.run, (b'a' + k) as char);
                self.add_namespace(&ns);
                let port = format!("h{k}");
                ip(&["link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &port, "netns", &router]);
                ip(&["-n", &router, "link", "set", &port, "master", "lan", "up"]);
                let addr = host_addr(k);
                ip(&["-n", &ns, "addr", "add", &format!("{addr}/{prefix_len}"), "dev", "eth0"]);
                ip(&["-n", &ns, "link", "set", "eth0", "up"]);
                ip(&["-n", &ns, "route", "add", "default", "via", &lan_gw.to_string()]);
                Host { ns, addr }
            })
            .collect();

        let masquerade = match nat {
            Nat::Open => None,
            Nat::Cone => Some("-A POSTROUTING -o wan -j MASQUERADE"),
            Nat::Symmetric => Some("-A POSTROUTING -o wan -j MASQUERADE --random-fully"),
        };
        if let Some(masquerade) = masquerade {
            // Inbound: only what answers traffic sent from inside; unsolicited packets to the
            // router itself are dropped too, so they leave no conntrack entry that would make the
            // NAT pick another port for a later outbound flow.
            // The nat table's chains are declared, PREROUTING included: with the nftables backend
            // a NAT hook that no chain registers does not run, and replies would not be mapped back.
            let rules = format!(
                "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
                 :POSTROUTING ACCEPT [0:0]\n{masquerade}\nCOMMIT\n*filter\n\
                 -A FORWARD -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n\
                 -A FORWARD -i wan -j DROP\n\
                 -A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n\
                 -A INPUT -i wan -j DROP\nCOMMIT\n"
            );
            let mut child = Command::new("ip")
                .args(["netns", "exec", &router, "iptables-restore"])
                .stdin(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(rules.as_bytes()).unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "iptables-restore in {router}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Home { router, nat, wan, hosts }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        remove_namespaces(&self.run);
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

impl Lab {
    /// The inode numbers of this lab's namespaces (see [`processes_left`]).
    pub fn namespace_inodes(&self) -> Vec<u64> {
        self.inodes.clone()
    }
}

/// Processes ("pid command line" each) inside one of the network namespaces `inodes`, or whose
/// command line names `folder`: a lab that stopped cleanly leaves none.
pub fn processes_left(inodes: &[u64], folder: &std::path::Path) -> Vec<String> {
    let needle = folder.to_string_lossy().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let inode = std::fs::read_link(e.path().join("ns/net"))
                .ok()
                .and_then(|link| link.to_str()?.strip_prefix("net:[")?.strip_suffix(']')?.parse::<u64>().ok());
            let left = inode.is_some_and(|i| inodes.contains(&i)) || cmdline.contains(&needle);
            left.then(|| format!("{} {cmdline}", e.file_name().to_string_lossy()))
        })
        .collect()
}

/// The veth interfaces of the root namespace: the lab never makes one there, so the set is the
/// same after a run as before it.
pub fn root_veths() -> std::collections::BTreeSet<String> {
    let out = Command::new("ip").args(["-o", "link", "show", "type", "veth"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| line.split(": ").nth(1).map(|n| n.split('@').next().unwrap_or(n).to_string()))
        .collect()
}

/// Lab namespaces left by runs whose test process is gone ([`Lab::new`] removes them).
pub fn stale_labs() -> Vec<String> {
    stale_runs().iter().flat_map(|run| namespaces_with(&format!("{run}-"))).collect()
}

/// Lab namespaces (`ip netns`) and root-namespace interfaces (`ip link`) whose name starts with
/// `prefix`.
pub fn leftovers(prefix: &str) -> Vec<String> {
    let mut found = namespaces_with(prefix);
    let out = Command::new("ip").args(["-o", "link", "show"]).output().unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // "7: name@peer: <…"
        if let Some(name) = line.split(": ").nth(1).map(|n| n.split('@').next().unwrap_or(n))
            && name.starts_with(prefix)
        {
            found.push(format!("link {name}"));
        }
    }
    found
}

fn namespaces_with(prefix: &str) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// Kills what runs in the namespaces named `<run>-…` and deletes them.
fn remove_namespaces(run: &str) {
    let namespaces = namespaces_with(&format!("{run}-"));
    for ns in &namespaces {
        let out = Command::new("ip").args(["netns", "pids", ns]).output().unwrap();
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            // Only lab processes live in lab namespaces: our nodes, hub and coturn.
            if let Some(pid) = pid.parse().ok().and_then(rustix::process::Pid::from_raw) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
    }
    for ns in &namespaces {
        // A namespace goes away once its last process has exited; its veths go with it.
        for _ in 0..50 {
            let out = Command::new("ip").args(["netns", "pids", ns]).output().unwrap();
            if out.stdout.iter().all(u8::is_ascii_whitespace) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = Command::new("ip").args(["netns", "del", ns]).status();
    }
}

/// Removes labs of runs whose test process no longer exists.
fn remove_stale_labs() {
    for run in stale_runs() {
        eprintln!("netlab: removing the stale lab {run}");
        remove_namespaces(&run);
    }
}

/// The `p2l-<pid>` prefixes of other runs' labs whose test process no longer exists ([`Lab::new`]
/// clears this run's own prefix, a recycled pid, separately).
fn stale_runs() -> Vec<String> {
    let mut runs: Vec<String> = namespaces_with(PREFIX)
        .into_iter()
        .filter_map(|ns| ns.rsplit_once('-').map(|(run, _)| run.to_string()))
        .collect();
    runs.sort();
    runs.dedup();
    runs.retain(|run| {
        let alive = run
            .strip_prefix(PREFIX)
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists());
        !alive
    });
    runs
}

/// A shell in its own process group (so Ctrl-C on the test does not reach it) that removes this
/// run's namespaces, and so stops everything in them, and then its `scratch` folder, once the
/// test process is gone.
fn spawn_watchdog(run: &str, scratch: &std::path::Path) -> Child {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         for ns in $(ip netns list | awk '{{print $1}}' | grep '^{run}-'); do \
           for p in $(ip netns pids $ns); do kill -9 $p; done; \
         done; sleep 0.2; \
         for ns in $(ip netns list | awk '{{print $1}}' | grep '^{run}-'); do ip netns del $ns; done; \
         rm -rf '{scratch}'",
        pid = std::process::id(),
        scratch = scratch.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap()
}

/// `ip ARGS`, which must succeed.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
}

/// A sysctl inside a lab namespace (never the root one).
fn sysctl(ns: &str, setting: &str) {
    ip(&["netns", "exec", ns, "sysctl", "-qw", setting]);
}
