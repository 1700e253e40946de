namespace Xent.Cli;

/// <summary>A failure the user can fix, reported as one <c>error:</c> line and an exit code.</summary>
internal sealed class CliException(string message, int exitCode = ExitCodes.BadData) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>The exit codes: 0 success, 1 bad data (a file, a value), 2 a usage error (options, arguments).</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    public const int BadData = 1;
    public const int Usage = 2;
}
