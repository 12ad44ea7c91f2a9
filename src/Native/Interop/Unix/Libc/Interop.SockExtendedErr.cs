using System.Runtime.InteropServices;

namespace NativeZcopy.Native;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>
        /// <c>struct sock_extended_err</c> (linux/errqueue.h). For a zero-copy completion
        /// (<see cref="SO_EE_ORIGIN_ZEROCOPY"/>) <see cref="Info"/>..<see cref="Data"/> is the inclusive
        /// range of send-call numbers it completes, and <see cref="Code"/> says whether the kernel copied.
        /// </summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct SockExtendedErr
        {
            /// <summary><c>__u32 ee_errno</c>: 0 for a zero-copy completion.</summary>
            public uint Errno;

            /// <summary><c>__u8 ee_origin</c>.</summary>
            public byte Origin;

            /// <summary><c>__u8 ee_type</c>.</summary>
            public byte Type;

            /// <summary><c>__u8 ee_code</c>.</summary>
            public byte Code;

            /// <summary><c>__u8 ee_pad</c>.</summary>
            public byte Pad;

            /// <summary><c>__u32 ee_info</c>: first completed send number.</summary>
            public uint Info;

            /// <summary><c>__u32 ee_data</c>: last completed send number.</summary>
            public uint Data;
        }
    }
}
