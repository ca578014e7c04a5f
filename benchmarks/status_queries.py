#!/usr/bin/env python3
"""What `status` costs in SQL at 100,000 tasks: the three aggregates it ran before the
counts were kept (migration 0008) against the read of `task_counts` it runs now.

Usage: python3 benchmarks/status_queries.py [path/to/maestro] [tasks]
       (default: target/release/maestro, 100000)

Creates a store with `maestro init` in a temporary directory, inserts the tasks with
Python's sqlite3 in one transaction (the triggers keep `task_counts` as the store does),
checks that both ways give the same counts, and prints the median of 15 runs of each query
with its plan. Python's SQLite is not the one built into maestro: compare within one run.
"""
import os, sqlite3, statistics, subprocess, sys, tempfile, time

maestro = sys.argv[1] if len(sys.argv) > 1 else "target/release/maestro"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
with tempfile.TemporaryDirectory() as tmp:
    env = dict(os.environ, HOME=tmp, NO_COLOR="1")
    subprocess.run([os.path.abspath(maestro), "init", "--name", "q", "-q"], cwd=tmp, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    db = sqlite3.connect(os.path.join(tmp, ".maestro", "maestro.db"))
    pid = db.execute("SELECT id FROM projects").fetchone()[0]
    with db:
        for i in range(n):
            status = "completed" if i % 10 == 0 else "in_progress" if i % 20 == 5 else "pending"
            db.execute(
                "INSERT INTO tasks (id, project_id, title, description, status, priority,"
                " priority_rank, labels, created_at, updated_at, seq, open_deps)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, '[\"bench\"]', 1, 1, ?, ?)",
                (f"t-{i:08d}", pid, f"task {i}", f"What task {i} is about, in a sentence or two.",
                 status, ["high", "medium", "low"][i % 3], i % 3, i + 1, 1 if i % 4 == 3 else 0))
    before = [
        "SELECT status, COUNT(*) FROM tasks WHERE project_id = ?1 GROUP BY status",
        "SELECT priority, COUNT(*) FROM tasks WHERE project_id = ?1 GROUP BY priority",
        "SELECT COUNT(*) FROM tasks t WHERE t.project_id = ?1"
        " AND t.status = 'pending' AND t.open_deps = 0",
    ]
    now = ["SELECT status, priority, ready, n FROM task_counts WHERE project_id = ?1 AND n <> 0"]

    def median_ms(queries):
        runs = []
        for _ in range(15):
            start = time.perf_counter()
            for q in queries:
                db.execute(q, (pid,)).fetchall()
            runs.append(time.perf_counter() - start)
        return statistics.median(runs) * 1e3

    def counts_from_tasks():
        by_status = dict(db.execute(before[0], (pid,)).fetchall())
        return by_status, db.execute(before[2], (pid,)).fetchone()[0]

    def counts_kept():
        rows = db.execute(now[0], (pid,)).fetchall()
        by_status = {}
        for status, _, _, k in rows:
            by_status[status] = by_status.get(status, 0) + k
        return by_status, sum(k for _, _, ready, k in rows if ready)

    assert counts_from_tasks() == counts_kept(), (counts_from_tasks(), counts_kept())
    print(f"SQLite {sqlite3.sqlite_version}, {n} tasks, load average {os.getloadavg()[0]:.1f}")
    for q in before + now:
        plan = "; ".join(r[3] for r in db.execute("EXPLAIN QUERY PLAN " + q, (pid,)))
        print(f"{median_ms([q]):9.3f} ms  {q}\n              plan: {plan}")
    print(f"before (three queries): {median_ms(before):.2f} ms; now: {median_ms(now):.3f} ms")
