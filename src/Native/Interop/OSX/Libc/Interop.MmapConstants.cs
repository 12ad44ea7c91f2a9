namespace NativeZcopy.Native;

internal static partial class Interop
{
    /// <summary>
    /// macOS (Darwin) values for libc's <c>mmap</c> (<see cref="Libc.Mmap"/>, declared once for both
    /// systems); only <see cref="MacOSPageSource"/> uses them. Named for the OS, not the library as elsewhere,
    /// because <see cref="Libc"/> holds Linux's values and Darwin's differ.
    /// </summary>
    internal static partial class OSX
    {
        /// <summary>PROT_READ (xnu bsd/sys/mman.h): pages may be read.</summary>
        internal const int PROT_READ = 0x1;

        /// <summary>PROT_WRITE (xnu bsd/sys/mman.h): pages may be written.</summary>
        internal const int PROT_WRITE = 0x2;

        /// <summary>MAP_PRIVATE (xnu bsd/sys/mman.h): changes are private to the process.</summary>
        internal const int MAP_PRIVATE = 0x2;

        /// <summary>
        /// MAP_ANON (xnu bsd/sys/mman.h): memory not backed by a file, zero-filled. Darwin's value; Linux's
        /// MAP_ANONYMOUS is 0x20, which Darwin reads as MAP_RENAME, and Linux's MAP_POPULATE (0x8000) is
        /// Darwin's MAP_32BIT: no Linux flag value may be passed here.
        /// </summary>
        internal const int MAP_ANON = 0x1000;
    }
}
