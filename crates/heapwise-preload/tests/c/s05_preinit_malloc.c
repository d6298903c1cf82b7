/* malloc from the program's .preinit_array: it runs before every constructor, the C
 * library's included, so `environ` is still null, and it is the process's first
 * allocation. Its HEAPWISE_* options must still count. Prints whether `environ` was null
 * there and whether its block came. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;
static int environ_was_null = -1;
static char *early_block;

static void early(int argc, char **argv, char **envp)
{
    (void)argc;
    (void)argv;
    (void)envp;
    environ_was_null = environ == NULL;
    early_block = malloc(64);
    if (early_block)
        strcpy(early_block, "from preinit");
}

__attribute__((section(".preinit_array"), used)) static void (*preinit)(int, char **, char **) = early;

int main(void)
{
    printf("environ null in preinit: %d\n", environ_was_null);
    printf("early block: %s\n", early_block ? early_block : "(none)");
    for (int i = 1; i <= 10; i++)
        free(malloc((size_t)i * 32));
    free(early_block);
    return 0;
}
