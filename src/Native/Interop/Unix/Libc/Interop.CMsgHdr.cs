using System.Runtime.InteropServices;

namespace NativeZcopy.Native;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>
        /// <c>struct cmsghdr</c> (sys/socket.h): 16 bytes in a 64-bit process, 12 in a 32-bit one, so the data
        /// starts right after it (CMSG_DATA) and the next header at CMSG_ALIGN(cmsg_len), a multiple of
        /// sizeof(size_t).
        /// </summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct CMsgHdr
        {
            /// <summary><c>size_t cmsg_len</c>: header plus data, unpadded.</summary>
            public nuint Length;

            /// <summary><c>int cmsg_level</c>: e.g. SOL_IP.</summary>
            public int Level;

            /// <summary><c>int cmsg_type</c>: e.g. IP_RECVERR.</summary>
            public int Type;
        }
    }
}
