"""A one-node SLURM cluster on localhost for tests: its own munged, slurmctld and slurmd.

Everything lives in one temporary folder (configuration, munge key and socket, state,
spool, logs), uses free ports, and is stopped on exit: only the processes started here
are stopped. Settings that work without systemd or cgroups: proctrack/linuxproc,
task/none, no accounting; DependencyParameters=kill_invalid_depend so that a merge whose
array failed is cancelled instead of pending forever.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")


def missing_binaries() -> list[str]:
    paths = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    missing = [b for b in BINARIES if shutil.which(b, path=paths) is None]
    try:
        import pwd

        pwd.getpwnam("munge")
    except KeyError:
        missing.append("user munge")
    return missing


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_line() -> str:
    """This machine's resources as a NodeName line for a node called localhost."""
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    first = out.splitlines()[0]
    first = re.sub(r"^NodeName=\S+", "NodeName=localhost", first)
    # leave a little memory headroom so jobs asking for the default fit
    return first + " State=UNKNOWN"


class LocalCluster:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.procs: list[subprocess.Popen] = []
        self.env = dict(os.environ)
        self.env["PATH"] = self.env.get("PATH", "") + ":/usr/sbin:/sbin"

    # -- set-up ---------------------------------------------------------------------------
    def _munge(self) -> None:
        # munged runs as user munge, which must reach its folder: not under a 0700 test dir
        mdir = Path(tempfile.mkdtemp(prefix="attviz-munge-"))
        mdir.chmod(0o755)
        self.munge_dir = mdir
        key = mdir / "munge.key"
        key.write_bytes(os.urandom(1024))
        shutil.chown(mdir, "munge", "munge")
        shutil.chown(key, "munge", "munge")
        key.chmod(0o400)
        self.socket = mdir / "munge.socket"
        cmd = ["munged", "--foreground", "--force",
               f"--socket={self.socket}", f"--key-file={key}",
               f"--pid-file={mdir / 'munged.pid'}", f"--log-file={mdir / 'munged.log'}",
               f"--seed-file={mdir / 'munged.seed'}"]
        self.procs.append(subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.STDOUT, user="munge",
                                           group="munge", extra_groups=[]))
        self._until(lambda: self.socket.exists(), 20, "munged did not start")

    def _config(self) -> None:
        for d in ("state", "spool", "logs"):
            (self.root / d).mkdir()
        self.conf = self.root / "slurm.conf"
        r = self.root
        self.conf.write_text(f"""\
ClusterName=attviz-test
SlurmctldHost=localhost
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={self.socket}
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerParameters=batch_sched_delay=0
DependencyParameters=kill_invalid_depend
MinJobAge=5
KillWait=5
ReturnToService=2
MpiDefault=none
StateSaveLocation={r / 'state'}
SlurmdSpoolDir={r / 'spool'}
SlurmctldPidFile={r / 'slurmctld.pid'}
SlurmdPidFile={r / 'slurmd.pid'}
SlurmctldLogFile={r / 'logs' / 'slurmctld.log'}
SlurmdLogFile={r / 'logs' / 'slurmd.log'}
{_node_line()}
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
        self.env["SLURM_CONF"] = str(self.conf)

    def start(self) -> LocalCluster:
        try:
            self._munge()
            self._config()
            self.procs.append(subprocess.Popen(
                ["slurmctld", "-D", "-i", "-f", str(self.conf)], env=self.env,
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
            self._until(lambda: self.run(["scontrol", "ping"], check=False).stdout.count("UP"),
                        30, "slurmctld did not answer")
            self.procs.append(subprocess.Popen(
                ["slurmd", "-D", "-N", "localhost", "-f", str(self.conf)], env=self.env,
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
            self._until(lambda: "idle" in self.run(["sinfo", "-h", "-o", "%T"], check=False).stdout,
                        30, "slurmd did not register")
        except BaseException:
            self.stop()
            raise
        return self

    def _until(self, ok, seconds: float, what: str) -> None:
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                if ok():
                    return
            except (OSError, subprocess.SubprocessError):
                pass
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{what}: {p.args[0]} exited with {p.returncode}; "
                                       f"logs in {self.root}")
            time.sleep(0.2)
        raise RuntimeError(f"{what} within {seconds} s; logs in {self.root}")

    # -- use ------------------------------------------------------------------------------
    def run(self, cmd: list[str], check: bool = True, timeout: float = 600,
            **kw) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, check=check,
                              timeout=timeout, **kw)

    def jobs(self) -> dict[str, str]:
        """{job id (array tasks as ARRAY_TASK): state} of the jobs the controller knows."""
        out = self.run(["squeue", "-h", "-o", "%i %T"], check=False).stdout
        return dict(line.split()[:2] for line in out.splitlines() if line.strip())

    def wait_idle(self, seconds: float = 600) -> None:
        self._until(lambda: not self.jobs(), seconds, "jobs did not finish")

    # -- tear-down ------------------------------------------------------------------------
    def stop(self) -> None:
        if len(self.procs) == 3 and all(p.poll() is None for p in self.procs):
            # cancel what is still queued or running, so no job step outlives the cluster
            self.run(["scancel", "--full", "--user", str(os.getuid())], check=False)
            try:
                self.wait_idle(60)
            except RuntimeError:
                pass
        for p in reversed(self.procs):  # slurmd, slurmctld, munged
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=5)
        self.procs.clear()
        if getattr(self, "munge_dir", None) is not None:
            shutil.rmtree(self.munge_dir, ignore_errors=True)
