using System.Runtime.InteropServices;

namespace NativeZcopy.Native;

internal static partial class Interop
{
    internal static partial class Libc
    {
        /// <summary>
        /// <c>struct msghdr</c> (sys/socket.h), glibc layout: 56 bytes in a 64-bit process, with padding after
        /// <c>msg_namelen</c> (28 bytes, no padding, in a 32-bit one: the pointer and size_t fields are nint). musl declares <c>msg_iovlen</c> and <c>msg_controllen</c> as an int plus
        /// padding; on little-endian targets the same bytes result for the small values written here.
        /// </summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct MsgHdr
        {
            /// <summary><c>void *msg_name</c>: peer address; null on a connected stream.</summary>
            public nint Name;

            /// <summary><c>socklen_t msg_namelen</c>.</summary>
            public uint NameLength;

            /// <summary><c>struct iovec *msg_iov</c>.</summary>
            public IoVec* Iov;

            /// <summary><c>size_t msg_iovlen</c>: entries in <see cref="Iov"/>, at most IOV_MAX.</summary>
            public nuint IovLength;

            /// <summary><c>void *msg_control</c>: ancillary data buffer.</summary>
            public byte* Control;

            /// <summary><c>size_t msg_controllen</c>: its size in bytes; on return, bytes used.</summary>
            public nuint ControlLength;

            /// <summary><c>int msg_flags</c>: set by recvmsg (e.g. MSG_CTRUNC).</summary>
            public int Flags;
        }
    }
}
