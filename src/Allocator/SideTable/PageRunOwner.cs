using System;
using System.Threading;
using NativeZcopy.Native;

namespace NativeZcopy.SideTable;

/// <summary>
/// Decides what happens to a run whose refcount reached zero. The base behaviour is the design's default:
/// unmap the real pages at once. An allocator subclasses it to count what it unmaps.
/// </summary>
internal class PageRunOwner
{
    /// <summary>Bytes of this owner's runs registered now. Changed only by <see cref="AddBytesMapped"/>.</summary>
    private long _bytesMapped;

    /// <summary>Creates an owner that returns runs to <paramref name="source"/>.</summary>
    public PageRunOwner(PageSource source) => Source = source;

    /// <summary>The page source the owner's runs were mapped from, and are unmapped to.</summary>
    public PageSource Source { get; }

    /// <summary>Bytes of this owner's runs currently registered in the side table (for the metrics).</summary>
    public long BytesMapped => Volatile.Read(ref _bytesMapped);

    /// <summary>Called by <see cref="PageSideTable"/> as it registers (+) and unregisters (-) a run of this owner.</summary>
    internal void AddBytesMapped(long delta) => Interlocked.Add(ref _bytesMapped, delta);

    /// <summary>
    /// Called once, on the thread whose <c>Put</c> took the count from 1 to 0. The run is dead (count 0,
    /// no <c>Get</c> can revive it) but still registered and mapped.
    /// </summary>
    /// <exception cref="InvalidOperationException">The OS refused to unmap; the run stays registered, dead.</exception>
    public virtual void OnFinalRelease(long entry)
    {
        ReleaseToOs(entry);
    }

    /// <summary>Unmaps a dead run and then unregisters it.</summary>
    /// <remarks>
    /// Unmap first, unregister second: while the run is still registered nobody else can be handed its
    /// addresses, and once it is unmapped the OS may give them to a new run, whose fresh entries
    /// <see cref="PageSideTable.Unregister"/> leaves alone (it clears only entries that are still ours).
    /// If the OS refuses, the run stays registered with a count of zero: every Get and Put on it keeps
    /// failing cleanly and the table still describes the mapping that really exists.
    /// </remarks>
    protected void ReleaseToOs(long entry)
    {
        ref PageRun run = ref PageSideTable.Run(entry);
        nint address = run.Base;
        nuint length = run.Length;
        if (!Source.TryUnmap(address, length, out int error))
        {
            throw new InvalidOperationException(
                $"The OS refused to unmap the {length}-byte run at 0x{address:X}: {Source.DescribeError(error)}.");
        }

        PageSideTable.Unregister(entry);
        OnUnmapped(length);
    }

    /// <summary>Hook for owners that count what they give back.</summary>
    protected virtual void OnUnmapped(nuint length)
    {
    }
}
