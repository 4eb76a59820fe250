# gdb -p PID -batch -x arenas.gdb.py: glibc malloc arenas of a live process (libc6-dbg needed).
# Prints one JSON line: each thread's tid, arena and stack pointer; each arena's address,
# system_mem, and its heaps (64 MiB-aligned mappings; the main arena's is [heap]).
import gdb, json
HEAP_MAX = 64 << 20
out = {"threads": [], "arenas": []}
main = gdb.parse_and_eval("&main_arena")
a = main
seen = set()
while int(a) not in seen:
    seen.add(int(a))
    heaps = []
    if int(a) != int(main):
        h = int(a["top"]) & ~(HEAP_MAX - 1)
        while h:
            hi = gdb.parse_and_eval("(heap_info *) %d" % h).dereference()
            heaps.append({"addr": h, "size": int(hi["size"])})
            h = int(hi["prev"])
    out["arenas"].append({"addr": int(a), "system_mem": int(a["system_mem"]), "main": int(a) == int(main),
                          "attached": int(a["attached_threads"]), "heaps": heaps})
    a = a["next"]
for t in gdb.selected_inferior().threads():
    t.switch()
    try:
        ar = int(gdb.parse_and_eval("thread_arena"))
    except gdb.error:
        ar = None
    frames = []
    f = gdb.newest_frame()
    while f is not None and len(frames) < 40:
        frames.append(f.name() or "?")
        f = f.older()
    out["threads"].append({"tid": t.ptid[1], "arena": ar, "sp": int(gdb.parse_and_eval("$sp")), "frames": frames})
out["mp"] = {k: int(gdb.parse_and_eval("mp_." + k)) for k in ["mmap_threshold", "trim_threshold", "n_mmaps", "mmapped_mem", "no_dyn_threshold"]}
out["narenas"] = int(gdb.parse_and_eval("narenas"))
print("ARENAS_JSON " + json.dumps(out))
