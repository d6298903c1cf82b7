// C++ compile workload of the heapwise hosted suite: templates, the standard containers and
// iostreams, expanded @N@ times by the generator in driver/real.rs (HW_UNIT blocks).
#include <algorithm>
#include <iostream>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

template <int K> struct Unit {
    static unsigned long run(unsigned long seed) {
        std::map<std::string, std::vector<int>> m;
        std::unordered_map<int, std::set<long>> u;
        for (int i = 0; i < 50; ++i) {
            m[std::to_string((seed + i * K) % 97)].push_back(i * K);
            u[i % (K + 3)].insert(seed * i);
        }
        unsigned long h = seed;
        for (auto &kv : m) {
            std::sort(kv.second.begin(), kv.second.end());
            h = h * 31 + std::accumulate(kv.second.begin(), kv.second.end(), 0UL) + kv.first.size();
        }
        for (auto &kv : u) h = h * 17 + kv.second.size();
        return h;
    }
};
