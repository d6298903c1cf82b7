// C++ compile workload of the heapwise hosted suite: templates and the standard containers,
// followed by HW_UNIT instantiations appended by the generator in src/driver/real.rs.
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

template <int K> struct Unit {
    static unsigned long run(unsigned long seed) {
        std::map<std::string, std::vector<int>> m;
        for (int i = 0; i < 50; ++i) {
            m[std::to_string((seed + i * K) % 97)].push_back(i * K);
        }
        unsigned long h = seed;
        for (auto &kv : m) {
            std::sort(kv.second.begin(), kv.second.end());
            for (int x : kv.second) h = h * 31 + x;
            h = h * 31 + kv.first.size();
        }
        return h;
    }
};
