using System.Runtime.InteropServices;

namespace NativeZcopy.Native;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary><c>struct iovec</c> (sys/uio.h): one gather entry.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct IoVec
        {
            /// <summary><c>void *iov_base</c>: first byte.</summary>
            public nint Base;

            /// <summary><c>size_t iov_len</c>: bytes.</summary>
            public nuint Length;
        }
    }
}
