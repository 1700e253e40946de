namespace Xent;

/// <summary>Process-wide threading settings, as <c>torch.set_num_threads</c>.</summary>
/// <remarks>Results never depend on this setting: work is cut into blocks whose boundaries depend only on the shapes,
/// each block's partial sum is kept apart, and the partials are added in a fixed order.</remarks>
public static class Parallelism
{
    private static int s_maxDegree = Environment.ProcessorCount;

    /// <summary>Gets or sets the most threads one call may use; 1 runs everything on the calling thread.
    /// Defaults to <see cref="Environment.ProcessorCount"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public static int MaxDegreeOfParallelism
    {
        get => Volatile.Read(ref s_maxDegree);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            Volatile.Write(ref s_maxDegree, value);
        }
    }
}
