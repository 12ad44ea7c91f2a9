using System.Runtime.InteropServices;

namespace NativeZcopy.Native;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>MADV_HUGEPAGE (Linux, asm-generic/mman-common.h): back the range with transparent huge pages.</summary>
        internal const int MADV_HUGEPAGE = 14;

        /// <summary>MADV_POPULATE_WRITE (Linux 5.14+, asm-generic/mman-common.h): fault the range in, writable.</summary>
        internal const int MADV_POPULATE_WRITE = 23;

        /// <summary>
        /// <c>int madvise(void *addr, size_t length, int advice)</c>. Declared here because
        /// Mono.Posix.NETStandard only offers posix_madvise, which has neither advice above.
        /// Returns 0, or -1 with errno set.
        /// </summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "madvise", SetLastError = true)]
        internal static partial int Madvise(nint addr, nuint length, int advice);
    }
}
