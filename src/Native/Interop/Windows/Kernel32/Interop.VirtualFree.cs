using System.Runtime.InteropServices;

namespace NativeZcopy.Native;

internal static partial class Interop
{
    internal static partial class Kernel32
    {
        /// <summary>
        /// <c>BOOL VirtualFree(LPVOID lpAddress, SIZE_T dwSize, DWORD dwFreeType)</c>.
        /// Returns 0 on failure; the error is in GetLastError. BOOL is kept as int to stay blittable.
        /// </summary>
        [LibraryImport(Libraries.Kernel32, SetLastError = true)]
        internal static partial int VirtualFree(nint lpAddress, nuint dwSize, uint dwFreeType);
    }
}
