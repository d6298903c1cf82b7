/* Guard pages around large blocks (HEAPWISE_HARDEN=full): argv[1] is
 *   "overflow"  - a write one byte past a 1 MiB block: SIGSEGV at that write in full mode
 *                 (the payload ends at the guard page); default mode: the byte lands in the
 *                 mapping's page tail and the program runs on;
 *   "underflow" - a write over the word before the payload (the header): reported at free;
 *   "after"     - a read of a freed large block: SIGSEGV in full mode (the freed mapping is
 *                 kept inaccessible for a while).
 * The program prints "BEFORE" just before the bad access and "AFTER" just after it. */
#include "../misuse/misuse.h"

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "overflow";
    size_t n = 1 << 20;
    char *p = malloc(n);
    memset(p, 'x', n);
    printf("BEFORE\n");
    fflush(stdout);
    if (strcmp(mode, "overflow") == 0) {
        ((volatile char *)launder(p))[n] = 'x';
    } else if (strcmp(mode, "underflow") == 0) {
        ((volatile size_t *)launder(p))[-1] = 0;
    } else {
        free(p);
        volatile char c = ((volatile char *)launder(p))[0];
        (void)c;
        printf("AFTER\n");
        fflush(stdout);
        return 0;
    }
    printf("AFTER\n");
    fflush(stdout);
    free(p);
    survived();
    return 0;
}
