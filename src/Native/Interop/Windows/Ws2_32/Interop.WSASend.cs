using System.Runtime.InteropServices;

namespace NativeZcopy.Native;

internal static partial class Interop
{
    internal static partial class Ws2_32
    {
        /// <summary>
        /// <c>int WSASend(SOCKET s, LPWSABUF lpBuffers, DWORD dwBufferCount, LPDWORD lpNumberOfBytesSent,
        /// DWORD dwFlags, LPWSAOVERLAPPED lpOverlapped, LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine)</c>,
        /// called without overlapped I/O. 0, or SOCKET_ERROR with the error in WSAGetLastError. SetLastError
        /// captures the thread's last error, as .NET's own WSASend import relies on (its socket errors are read
        /// with Marshal.GetLastPInvokeError too); the Win32 docs name only WSAGetLastError.
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
