namespace Xent.Tests.Library;

/// <summary>Runs test code with <see cref="Parallelism.MaxDegreeOfParallelism"/> set to a given value.</summary>
/// <remarks>The setting is process-wide and xunit runs test classes in parallel. A test that set it by hand could find
/// another test's value in place by the time its call ran, and a comparison of 1 thread with N would then compare N with
/// N and pass without testing anything. Every change goes through here, under one lock, and is undone before the lock
/// is released, so code inside <see cref="Run{T}"/> always sees its own value. Tests that never change the setting do
/// not take the lock: results do not depend on it.</remarks>
internal static class Threads
{
    private static readonly Lock s_lock = new();

    /// <summary>Returns <paramref name="body"/>'s result, computed with at most <paramref name="degree"/> threads.</summary>
    public static T Run<T>(int degree, Func<T> body)
    {
        lock (s_lock)
        {
            int saved = Parallelism.MaxDegreeOfParallelism;
            try
            {
                Parallelism.MaxDegreeOfParallelism = degree;
                return body();
            }
            finally
            {
                Parallelism.MaxDegreeOfParallelism = saved;
            }
        }
    }

    /// <summary>Runs <paramref name="body"/> with at most <paramref name="degree"/> threads.</summary>
    public static void Run(int degree, Action body) => Run(degree, () =>
    {
        body();
        return 0;
    });
}
