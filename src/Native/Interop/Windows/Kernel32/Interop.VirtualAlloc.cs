using System.Runtime.InteropServices;

namespace NativeZcopy.Native;

internal static partial class Interop
{
    internal static partial class Kernel32
    {
        /// <summary>
        /// <c>LPVOID VirtualAlloc(LPVOID lpAddress, SIZE_T dwSize, DWORD flAllocationType, DWORD flProtect)</c>.
        /// Returns NULL on failure; the error is in GetLastError.
        /// </summary>
        [LibraryImport(Libraries.Kernel32, SetLastError = true)]
        internal static partial nint VirtualAlloc(nint lpAddress, nuint dwSize, uint flAllocationType, uint flProtect);
    }
}
