using System.Runtime.InteropServices;

namespace NativeZcopy.Native;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>
        /// <c>int munmap(void *addr, size_t length)</c>: for Linux where Mono.Posix's native helper does not
        /// load (see <see cref="UnixPageSource"/>), and for macOS (<see cref="MacOSPageSource"/>). Returns 0, or
        /// -1 with errno set.
        /// </summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "munmap", SetLastError = true)]
        internal static partial int Munmap(nint addr, nuint length);
    }
}
