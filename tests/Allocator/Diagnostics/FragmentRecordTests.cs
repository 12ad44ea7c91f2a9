using System;
using System.Diagnostics;
using System.Linq;
using System.Runtime.CompilerServices;
using NativeZcopy.Diagnostics;
using NativeZcopy.Native;
using Xunit;

namespace NativeZcopy.Tests.Allocator.Diagnostics;

public sealed class FragmentRecordTests
{
    /// <summary>
    /// Optimized code has fewer frames than the tests' debug build: the JIT inlines arena methods into the
    /// allocator's and the allocator's into the caller's. The allocation stack is trimmed by the frames' types,
    /// so whichever of the library's frames are missing, it starts at the allocator (or at the caller, when
    /// none of the allocator's frames is left) and keeps every frame of the caller's. Here the frames a debug
    /// build records are taken inside the tracker, then thinned as inlining would thin them.
    /// </summary>
    [Fact]
    [MethodImpl(MethodImplOptions.NoInlining)]
    public void The_allocation_stack_starts_at_the_allocator_and_keeps_the_callers_frames_whatever_was_inlined()
    {
        StackFrame[]? captured = null;
        using var allocator = new ZcopyAllocator(new ZcopyAllocatorOptions { TrackFragments = true }, PageSource.Os, processors: 1);
        allocator.Owner.Tracker!.BeforeRecordForTests = _ => captured ??= new StackTrace(fNeedFileInfo: false).GetFrames();
        NativePages.Put(allocator.Alloc(100));
        Assert.NotNull(captured);

        static bool InLibrary(StackFrame frame) => frame.GetMethod()?.DeclaringType?.Assembly == typeof(ZcopyAllocator).Assembly;
        static bool Public(StackFrame frame) => frame.GetMethod()?.DeclaringType is { IsPublic: true };
        int caller = Array.FindIndex(captured, f => f.GetMethod()?.Name == nameof(The_allocation_stack_starts_at_the_allocator_and_keeps_the_callers_frames_whatever_was_inlined));
        int tracker = Array.FindIndex(captured, f => f.GetMethod()?.DeclaringType == typeof(FragmentTracker));
        Assert.True(tracker >= 0 && caller > tracker, $"tracker frame {tracker}, caller frame {caller}");
        StackFrame[] library = captured[(tracker + 1)..caller];
        Assert.Contains(library, f => !Public(f));                     // an arena frame, at least
        Assert.Contains(library, Public);                               // the allocator's own

        // As recorded, with the inner frames dropped by inlining, with the allocator's dropped, with both.
        StackFrame[][] variants =
        [
            library,
            library.Where(Public).ToArray(),
            library.Where(f => !Public(f)).ToArray(),
            [],
        ];
        foreach (StackFrame[] inner in variants)
        {
            // What the tracker records: the stack below its own frame.
            StackFrame[] kept = FragmentRecord.FromAllocator(new StackTrace([.. inner, .. captured[caller..]])).GetFrames();

            StackFrame? firstPublic = inner.FirstOrDefault(Public);
            Assert.Same(firstPublic ?? captured[caller], kept[0]);
            Assert.Equal(captured[caller..], kept[^(captured.Length - caller)..]);
            Assert.DoesNotContain(kept, f => InLibrary(f) && !Public(f));
        }
    }

    /// <summary>
    /// The stack is cut by the names of the library's public types (NativeAOT's frames carry no reflection
    /// type to ask): the list must name every exported type, or a public frame would be dropped as inner.
    /// </summary>
    [Fact]
    public void The_public_type_names_the_stack_is_cut_by_are_the_library_s_exported_types()
    {
        string[] exported = [.. typeof(ZcopyAllocator).Assembly.GetExportedTypes().Select(t => t.FullName!).Order(StringComparer.Ordinal)];
        Assert.Equal(exported, FragmentRecord.PublicTypeNames.Order(StringComparer.Ordinal));
    }
}
