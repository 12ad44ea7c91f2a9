namespace NativeZcopy.Native;

internal static partial class Interop
{
    // Linux's values on x86-64, arm64 and arm (asm-generic); mips, alpha and parisc number some differently.
    internal static partial class Libc
    {
        /// <summary>PROT_READ (asm-generic/mman-common.h): pages may be read.</summary>
        internal const int PROT_READ = 0x1;

        /// <summary>PROT_WRITE (asm-generic/mman-common.h): pages may be written.</summary>
        internal const int PROT_WRITE = 0x2;

        /// <summary>MAP_PRIVATE (linux/mman.h): changes are private to the process.</summary>
        internal const int MAP_PRIVATE = 0x02;

        /// <summary>MAP_ANONYMOUS (asm-generic/mman-common.h): zero-filled memory backed by no file.</summary>
        internal const int MAP_ANONYMOUS = 0x20;

        /// <summary>MAP_POPULATE (asm-generic/mman.h): fault every page in within the call.</summary>
        internal const int MAP_POPULATE = 0x8000;
    }
}
