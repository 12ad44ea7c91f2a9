namespace NativeZcopy.Tests.Allocator.Model;

/// <summary>The sequential model of <see cref="SharedHeap"/>: refs on the fixed pieces, refusals, allocations.</summary>
internal sealed class SharedModel
{
    public int[] Refs { get; } = [1, 1, 1, 1];

    public int Refused { get; set; }

    public int Allocated { get; set; }

    public void Touch(int index, bool get)
    {
        if (Refs[index] == 0)
        {
            Refused++;
            return;
        }

        Refs[index] += get ? 1 : -1;
    }

    public override string ToString() => $"refs [{string.Join(", ", Refs)}], refused {Refused}, allocated {Allocated}";
}
