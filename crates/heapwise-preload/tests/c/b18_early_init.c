/* Allocation before main: a preloaded library's constructor mallocs (also from a thread)
 * whichever of it and libheapwise.so initialises first; blocks cross library boundaries
 * through dlopen/dlclose. argv[1] is the path of lib_dl.so. */
#include "hw_test.h"
#include <malloc.h>

int main(int argc, char **argv)
{
    hw_begin("b18_early_init");
    const char *(*early_string)(void) =
        (const char *(*)(void))dlsym(RTLD_DEFAULT, "early_string");
    void *(*early_thread_block)(void) = (void *(*)(void))dlsym(RTLD_DEFAULT, "early_thread_block");
    CHECK(early_string && early_thread_block, "lib_early.so is preloaded");
    if (early_string && early_thread_block) {
        const char *s = early_string();
        CHECK(s && strcmp(s, "allocated in a constructor") == 0 && malloc_usable_size((void *)s) >= 100,
              "the constructor's block: %s", s ? s : "(null)");
        unsigned char *b = early_thread_block();
        int ok = b != NULL && malloc_usable_size(b) >= 5000;
        for (int i = 0; ok && i < 5000; i++)
            ok = b[i] == 0x42;
        CHECK(ok, "the block of the constructor's thread is intact");
    }
    CHECK(argc > 1, "path of lib_dl.so given");
    if (argc > 1) {
        for (int round = 0; round < 20; round++) {
            void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
            if (!h) {
                CHECK(0, "dlopen: %s", dlerror());
                break;
            }
            char *(*make)(size_t) = (char *(*)(size_t))dlsym(h, "dl_make");
            char *p = make ? make(1000) : NULL;
            int ok = p && strlen(p) == 1000 && malloc_usable_size(p) >= 1001;
            dlclose(h); /* its destructor frees its table */
            ok = ok && p[999] == 'd';
            free(p); /* a block malloc'ed inside the unloaded library */
            if (!ok) {
                CHECK(0, "round %d: block from dl_make", round);
                break;
            }
        }
        CHECK(1, "20 dlopen/dlclose rounds, blocks freed across the boundary");
    }
    return hw_finish();
}
