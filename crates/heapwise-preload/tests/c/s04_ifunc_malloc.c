/* malloc from an IFUNC resolver: it runs while the dynamic loader relocates the program,
 * before every constructor and before the C library has set `environ`, and it is the
 * process's first allocation, so heapwise initialises there. Its HEAPWISE_* options must
 * still count. Prints whether `environ` was null in the resolver and whether its block
 * came. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;
static int environ_was_null = -1;
static char *early_block;

static int answer(void) { return 42; }

static void *resolve_answer(void)
{
    environ_was_null = environ == NULL;
    early_block = malloc(64);
    if (early_block)
        strcpy(early_block, "from the resolver");
    return (void *)answer;
}

int resolved_answer(void) __attribute__((ifunc("resolve_answer")));

int main(void)
{
    printf("answer %d\n", resolved_answer());
    printf("environ null in the resolver: %d\n", environ_was_null);
    printf("early block: %s\n", early_block ? early_block : "(none)");
    for (int i = 1; i <= 10; i++)
        free(malloc((size_t)i * 32));
    free(early_block);
    return 0;
}
