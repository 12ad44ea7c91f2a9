using System.Runtime.InteropServices;

namespace NativeZcopy.Native;

internal static partial class Interop
{
    internal static partial class Ws2_32
    {
        /// <summary>
        /// <c>int WSASend(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesSent,
        /// DWORD dwFlags, LPWSAOVERLAPPED lpOverlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)</c>,
        /// called without overlapped I/O. 0, or SOCKET_ERROR with the error in WSAGetLastError (which
        /// SetLastError captures: it is GetLastError).
        /// </summary>
        [LibraryImport(Libraries.Ws2_32, EntryPoint = "WSASend", SetLastError = true)]
        internal static unsafe partial int WSASend(
            nint socket,
            WSABUF* buffers,
            uint bufferCount,
            uint* bytesSent,
            uint flags,
            nint overlapped,
            nint completionRoutine);
    }
}
