namespace Xent.Linear;

/// <summary>Work on a contiguous range of items by a numbered worker (the number picks per-worker scratch).</summary>
internal interface IWorkerAction
{
    /// <summary>Processes items [start, end) as worker <paramref name="worker"/>.</summary>
    void Execute(int worker, int start, int end);
}

/// <summary>A struct-action parallel loop as <see cref="Threading.BlockParallel"/>, that also tells each call which
/// worker it is, so workers can own scratch buffers allocated once per call.</summary>
internal static class WorkerParallel
{
    /// <summary>The workers a loop of <paramref name="work"/> units (floats touched) would use.</summary>
    public static int Workers(long work) =>
        (int)Math.Clamp(work / Threading.BlockParallel.MinElementsPerWorker, 1, Parallelism.MaxDegreeOfParallelism);

    public static void For<TAction>(int items, int workers, ref TAction action)
        where TAction : struct, IWorkerAction
    {
        workers = Math.Min(workers, items);
        if (workers <= 1)
        {
            if (items > 0)
            {
                action.Execute(0, 0, items);
            }

            return;
        }

        TAction copy = action;
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
        {
            TAction local = copy;
            local.Execute(w, (int)((long)items * w / workers), (int)((long)items * (w + 1) / workers));
        });
    }
}
