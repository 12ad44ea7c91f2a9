namespace NativeZcopy.Native;

internal static partial class Interop
{
    internal static partial class Kernel32
    {
        /// <summary>Allocation type: commit physical storage (winnt.h).</summary>
        internal const uint MEM_COMMIT = 0x00001000;

        /// <summary>Allocation type: reserve address space (winnt.h).</summary>
        internal const uint MEM_RESERVE = 0x00002000;

        /// <summary>Free type: release the whole reservation; size must be 0 (winnt.h).</summary>
        internal const uint MEM_RELEASE = 0x00008000;

        /// <summary>Page protection: read/write (winnt.h).</summary>
        internal const uint PAGE_READWRITE = 0x04;
    }
}
