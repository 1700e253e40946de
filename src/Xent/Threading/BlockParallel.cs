namespace Xent.Threading;

/// <summary>Work on a contiguous range of blocks; a struct so the loop needs no per-block delegate.</summary>
internal interface IBlockAction
{
    /// <summary>Processes blocks [start, end); called once per worker with a contiguous range.</summary>
    void Execute(long start, long end);
}

/// <summary>A parallel loop over blocks, in the spirit of CommunityToolkit's <c>ParallelHelper.For&lt;TAction&gt;</c>:
/// contiguous ranges per worker, serial when one worker is enough.</summary>
internal static class BlockParallel
{
    /// <summary>Below this many elements of work a call stays on the calling thread: thread hand-off costs
    /// a few microseconds, which is the time to process about this much.</summary>
    public const long MinElementsPerWorker = 1 << 15;

    public static void For<TAction>(long blockCount, long totalElements, ref TAction action)
        where TAction : struct, IBlockAction
    {
        if (blockCount <= 0)
        {
            return;
        }

        long byWork = Math.Max(1, totalElements / MinElementsPerWorker);
        int workers = (int)Math.Min(Math.Min(Parallelism.MaxDegreeOfParallelism, blockCount), byWork);
        if (workers <= 1)
        {
            action.Execute(0, blockCount);
            return;
        }

        TAction copy = action;
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
        {
            TAction local = copy;
            long start = blockCount * w / workers;
            long end = blockCount * (w + 1) / workers;
            local.Execute(start, end);
        });
    }
}
