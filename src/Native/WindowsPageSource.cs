using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace NativeZcopy.Native;

/// <summary>
/// Windows pages: <c>VirtualAlloc(MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE)</c> and
/// <c>VirtualFree(MEM_RELEASE)</c>. VirtualAlloc rounds a reservation's base to the 64 KiB allocation
/// granularity and its size to whole pages, and returns zeroed memory; MEM_RELEASE requires size 0 and the
/// exact base VirtualAlloc returned, which is what the side table records.
/// </summary>
[SupportedOSPlatform("windows")]
internal sealed class WindowsPageSource : PageSource
{
    /// <inheritdoc/>
    public override int PageSize { get; } = System.Environment.SystemPageSize;

    /// <inheritdoc/>
    public override nint TryMap(nuint length, out int error)
    {
        nint address = Interop.Kernel32.VirtualAlloc(
            0,
            length,
            Interop.Kernel32.MEM_RESERVE | Interop.Kernel32.MEM_COMMIT,
            Interop.Kernel32.PAGE_READWRITE);
        error = address == 0 ? Marshal.GetLastPInvokeError() : 0;
        return address;
    }

    /// <inheritdoc/>
    public override bool TryUnmap(nint address, nuint length, out int error)
    {
        // MEM_RELEASE frees the whole reservation and must be given a size of 0.
        bool released = Interop.Kernel32.VirtualFree(address, 0, Interop.Kernel32.MEM_RELEASE) != 0;
        error = released ? 0 : Marshal.GetLastPInvokeError();
        return released;
    }

    /// <inheritdoc/>
    public override string DescribeError(int error) => $"Win32 error {error}: {Marshal.GetPInvokeErrorMessage(error)}";
}
