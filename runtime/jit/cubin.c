/* Reads a kernel's resource usage out of a cubin's ELF sections, so that registers and shared
 * memory are known (and stored in the cache) without a GPU: the register count sits in the top
 * byte of sh_info of ".text.<kernel>" (and in EIATTR_REGCOUNT of ".nv.info.<kernel>"), static
 * shared memory is the size of ".nv.shared.<kernel>", the stack frame is EIATTR_FRAME_SIZE. */
#include <elf.h>
#include <string.h>

#include "../internal.h"

enum { EIFMT_NVAL = 1, EIFMT_BVAL = 2, EIFMT_HVAL = 3, EIFMT_SVAL = 4 };
enum { EIATTR_FRAME_SIZE = 0x11, EIATTR_REGCOUNT = 0x2f };

static bool section_named(const char *name, const char *prefix, const char *kernel) {
    size_t n = strlen(prefix);
    return strncmp(name, prefix, n) == 0 && strcmp(name + n, kernel) == 0;
}

/* Walks the EIATTR records of an .nv.info section, taking those of symbol sym (or all of them
 * for a per-kernel section, sym < 0). Each SVAL record is {u16 size, u32 symbol, u32 value}. */
static void read_attrs(const unsigned char *a, const unsigned char *end, long sym, int *regs, int *frame) {
    while (a + 2 <= end) {
        unsigned fmt = a[0], attr = a[1];
        size_t len = fmt == EIFMT_BVAL ? 1 : fmt == EIFMT_HVAL ? 2 : 0;
        if (fmt == EIFMT_SVAL) {
            if (a + 4 > end) break;
            len = 2 + (size_t)(a[2] | (a[3] << 8));
        }
        if (a + 2 + len > end) break;
        if (fmt == EIFMT_SVAL && len >= 10) {
            uint32_t s, v;
            memcpy(&s, a + 4, 4);
            memcpy(&v, a + 8, 4);
            if (sym < 0 || (long)s == sym) {
                if (attr == EIATTR_REGCOUNT) *regs = (int)v;
                if (attr == EIATTR_FRAME_SIZE) *frame = (int)v;
            }
        }
        a += 2 + len;
    }
}

bool brc__cubin_resources(const void *image, size_t size, const char *lowered, int *regs,
                          int *shared_bytes, int *local_bytes) {
    const unsigned char *p = image;
    *regs = *shared_bytes = *local_bytes = -1;
    if (size < sizeof(Elf64_Ehdr) || memcmp(p, ELFMAG, SELFMAG) != 0 || p[EI_CLASS] != ELFCLASS64)
        return false;
    Elf64_Ehdr eh;
    memcpy(&eh, p, sizeof eh);
    if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff > size ||
        (size - eh.e_shoff) / sizeof(Elf64_Shdr) < eh.e_shnum || eh.e_shstrndx >= eh.e_shnum)
        return false;
    Elf64_Shdr strtab;
    memcpy(&strtab, p + eh.e_shoff + (size_t)eh.e_shstrndx * sizeof(Elf64_Shdr), sizeof strtab);
    if (strtab.sh_offset > size || strtab.sh_size > size - strtab.sh_offset) return false;
    const char *names = (const char *)p + strtab.sh_offset;
    long sym = -1;
    int text_regs = -1, frame = 0;
    *shared_bytes = 0;
    /* Pass 0 finds the kernel's section and symbol; pass 1 reads the attribute tables. */
    for (int pass = 0; pass < 2; pass++) {
        for (unsigned i = 0; i < eh.e_shnum; i++) {
            Elf64_Shdr sh;
            memcpy(&sh, p + eh.e_shoff + (size_t)i * sizeof(Elf64_Shdr), sizeof sh);
            if (sh.sh_name >= strtab.sh_size) continue;
            const char *name = names + sh.sh_name;
            if (!memchr(name, 0, strtab.sh_size - sh.sh_name)) continue;
            bool has_data = sh.sh_type != SHT_NOBITS && sh.sh_offset <= size && sh.sh_size <= size - sh.sh_offset;
            if (pass == 0 && section_named(name, ".text.", lowered)) {
                sym = (long)(sh.sh_info & 0xffffffu);
                text_regs = (int)(sh.sh_info >> 24);
            } else if (pass == 0 && section_named(name, ".nv.shared.", lowered)) {
                *shared_bytes = (int)sh.sh_size;
            } else if (pass == 1 && has_data && sym >= 0 &&
                       (strcmp(name, ".nv.info") == 0 || section_named(name, ".nv.info.", lowered))) {
                read_attrs(p + sh.sh_offset, p + sh.sh_offset + sh.sh_size,
                           strcmp(name, ".nv.info") == 0 ? sym : -1, regs, &frame);
            }
        }
    }
    if (sym < 0) return false;
    if (*regs < 0) *regs = text_regs;
    *local_bytes = frame;
    return true;
}
