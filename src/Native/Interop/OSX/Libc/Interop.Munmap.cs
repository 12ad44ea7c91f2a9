using System.Runtime.InteropServices;

namespace NativeZcopy.Native;

internal static partial class Interop
{
    internal static partial class OSX
    {
        /// <summary><c>int munmap(void *addr, size_t len)</c> (Darwin's munmap(2)). Returns 0, or -1 with errno set.</summary>
        [LibraryImport(Libraries.Libc, EntryPoint = "munmap", SetLastError = true)]
        internal static partial int Munmap(nint addr, nuint len);
    }
}
