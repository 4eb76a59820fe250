# gdb -p PID -batch -x arenas.gdb.py: glibc malloc arenas of a live process (libc6-dbg needed).
# Prints one JSON line: each thread's tid, arena and stack pointer; each arena's address,
# system_mem, and its heaps (64 MiB-aligned mappings; the main arena's is [heap]).
import gdb, json
HEAP_MAX = 64 << 20
out = {"threads": [], "arenas": []}
SIZE_MASK = ~7

def chunk_size(p):
    return int(p["mchunk_size"]) & SIZE_MASK

def free_bytes(av):
    """Bytes an arena holds free: its top chunk, the regular bins and the fastbins (tcache'd
    chunks count as in use here: they are a thread's cache)."""
    top = chunk_size(av["top"])
    binned = 0
    nb = int(gdb.parse_and_eval("sizeof(((struct malloc_state *)0)->bins) / sizeof(void *)"))
    for i in range(1, nb // 2 + 1):
        # bin i's list head: a fake chunk whose fd/bk sit at bins[2*(i-1)]
        head = int(av["bins"][2 * (i - 1)].address) - 2 * 8
        p = av["bins"][2 * (i - 1)]
        n = 0
        while int(p) != head and n < 100000:
            binned += chunk_size(p)
            p = p["fd"]
            n += 1
    fast = 0
    for i in range(10):
        p = av["fastbinsY"][i]
        n = 0
        while int(p) != 0 and n < 100000:
            fast += chunk_size(p)
            # safe-linking (glibc >= 2.32): fd is stored xor'd with its own address >> 12
            fd_addr = int(p["fd"].address)
            p = gdb.Value((int(p["fd"]) ^ (fd_addr >> 12))).cast(p.type)
            n += 1
    return {"top": top, "bins": binned, "fast": fast}

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
                          "attached": int(a["attached_threads"]), "heaps": heaps, "free": free_bytes(a)})
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
