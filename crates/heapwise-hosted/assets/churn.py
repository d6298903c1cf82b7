# Object churn for the heapwise hosted suite (run with PYTHONMALLOC=malloc, so every object
# allocation goes to the C malloc under test). Prints "checksum=<hex>" and "maps=<libs>".
# Arguments: N (objects) and, optionally, the file name of the preloaded library, which is
# then reported among the maps whatever it is called (an --extra column's library).
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
preloaded = sys.argv[2] if len(sys.argv) > 2 else None


class Node:
    __slots__ = ("key", "val", "kids")

    def __init__(self, key, val):
        self.key = key
        self.val = val
        self.kids = []


h = 0x12345
live = {}
for i in range(n):
    k = (i * 2654435761) % 50021
    s = "k%d-%s" % (k, "x" * (k % 40))
    node = Node(s, [i, str(i), (i, k), {"a": i}])
    node.kids.append(Node(k, i))
    old = live.get(k)
    if old is not None:
        if old.key != s or old.kids[0].key != k:
            print("VERIFY FAILED: object %d corrupted" % k)
            sys.exit(2)
        h = (h * 31 + old.val[0]) & 0xFFFFFFFFFFFF
    live[k] = node
    if i % 1000 == 0:
        big = [str(j) * 3 for j in range(2000)]
        h = (h * 31 + len("".join(big))) & 0xFFFFFFFFFFFF
        live = {kk: v for kk, v in live.items() if (kk + i) % 7 != 0}
words = sorted(v.key for v in live.values())
h = (h * 31 + len(words) + sum(len(w) for w in words)) & 0xFFFFFFFFFFFF

# The file names of the mapped allocator libraries (the driver looks for the preloaded
# file's name, e.g. `libheapwise.so` or an extra column's `before.so`).
libs = set()
with open("/proc/self/maps") as f:
    for line in f:
        name = line.rstrip("\n").rsplit("/", 1)[-1]
        for lib in ("libheapwise", "libjemalloc", "libmimalloc", "libtcmalloc", preloaded):
            if lib and lib in name:
                libs.add(name)
print("maps=%s" % (",".join(sorted(libs)) or "none"))
print("checksum=%012x" % h)
