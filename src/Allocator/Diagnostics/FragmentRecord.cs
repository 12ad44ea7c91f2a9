using System;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;

namespace NativeZcopy.Diagnostics;

/// <summary>What a <see cref="FragmentTracker"/> knows about one fragment it recorded.</summary>
/// <remarks>
/// <see cref="Fragment"/>, <see cref="AllocationStackTrace"/> and <see cref="AllocatedAt"/> are written
/// once, before the record is published under the tracker's lock; <see cref="Refs"/> and
/// <see cref="LeakReported"/> are owned by that lock.
/// </remarks>
internal sealed class FragmentRecord
{
    /// <summary>The stack as captured; formatted only when someone asks (formatting costs far more than the walk).</summary>
    private readonly StackTrace _stack;

    /// <summary>The formatted stack, once asked for. Benign race: two threads may format it both, identically.</summary>
    private string? _formatted;

    /// <summary>Creates the record of a fragment just cut, holding its one reference.</summary>
    public FragmentRecord(BioVec fragment, StackTrace allocationStack, long allocatedAt)
    {
        Fragment = fragment;
        _stack = allocationStack;
        AllocatedAt = allocatedAt;
        Refs = 1;
    }

    /// <summary>The fragment as it was handed out.</summary>
    public BioVec Fragment { get; }

    /// <summary>Where it was allocated, from the allocator's frames on (see <see cref="FromAllocator"/>).</summary>
    public string AllocationStackTrace => _formatted ??= FromAllocator(_stack).ToString();

    /// <summary>
    /// <paramref name="stack"/> without the library's inner frames (the tracker's, an arena's, a slice's): it
    /// starts at the first frame of a public type of the library, the allocator method (or pool, cache) that
    /// cut the piece, or at the caller's frame when the JIT inlined all of those into it. Found by type, not
    /// by a fixed count of frames, because which frames exist depends on inlining: optimized code inlines
    /// some arena methods into the allocator's and the allocator's into the caller's, and a fixed count then
    /// cut the caller's own frames off or left arena frames on top. Where a frame's method is unknown (trimmed
    /// metadata; NativeAOT, where stack frames carry no method) the stack is kept whole from that frame on,
    /// the library's frames included.
    /// </summary>
    [UnconditionalSuppressMessage("Trimming", "IL2026:RequiresUnreferencedCode", Justification =
        "Diagnostics only: where trimming removed a frame's metadata, GetMethod returns null and the stack is kept whole from that frame on, so no frame of the caller's is ever dropped.")]
    internal static StackTrace FromAllocator(StackTrace stack)
    {
        StackFrame[] frames = stack.GetFrames();
        Assembly library = typeof(FragmentRecord).Assembly;
        for (int i = 0; i < frames.Length; i++)
        {
            Type? type = frames[i].GetMethod()?.DeclaringType;
            if (type is null || type.Assembly != library || type.IsPublic)
            {
                return i == 0 ? stack : new StackTrace(frames[i..]);
            }
        }

        return stack;
    }

    /// <summary>When it was allocated, in <see cref="System.Diagnostics.Stopwatch"/> ticks.</summary>
    public long AllocatedAt { get; }

    /// <summary>References its holders still have: one from the allocation plus one per extra Get.</summary>
    public int Refs { get; set; }

    /// <summary>True once the fragment was reported as leaked, so it is reported once.</summary>
    public bool LeakReported { get; set; }

    /// <summary>True when <paramref name="offset"/> (from the folio base) lies in the fragment.</summary>
    public bool Covers(int offset) => offset >= Fragment.Offset && offset < Fragment.Offset + Fragment.Length;
}
