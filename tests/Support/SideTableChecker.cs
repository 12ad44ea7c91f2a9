using System.Collections.Generic;
using NativeZcopy.SideTable;
using Xunit;

namespace NativeZcopy.Tests.Support;

/// <summary>
/// Checks the side table against itself (<see cref="PageSideTable.Verify"/>) and against the kernel's list
/// of mappings: every registered run must be mapped, whole. Call it only from tests in the
/// <see cref="ProcMapsReaders"/> collection, when no other thread is changing the table.
/// </summary>
internal static class SideTableChecker
{
    /// <summary>Fails the test with the first inconsistency found.</summary>
    public static void AssertConsistent()
    {
        IReadOnlyList<PageRunSnapshot> runs = PageSideTable.Verify();
        List<(ulong From, ulong To)> mappings = ProcMaps.ReadMappings();
        foreach (PageRunSnapshot run in runs)
        {
            Assert.True(
                ProcMaps.IsCovered(mappings, run.Base, (long)run.Length),
                $"registered run 0x{run.Base:X} ({run.Length} bytes, count {run.Count}) is not mapped");
        }
    }
}
