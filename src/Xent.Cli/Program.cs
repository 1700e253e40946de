using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Xent.Cli;

/// <summary>The <c>xent</c> command line: parsing and reporting only; the maths is the library's.</summary>
internal static class Program
{
    private static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs the command line with the given writers, so tests can run it in-process.</summary>
    internal static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        RootCommand root = BuildCommands(stdout);
        ParseResult parsed;
        try
        {
            // No response files: "@name" is a file name like any other (System.CommandLine would read arguments from
            // the file, a .npy's bytes included).
            parsed = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        }
        catch (Exception e)
        {
            return Report(stderr, OneLine(e.Message), ExitCodes.Usage);
        }

        if (parsed.CommandResult.Command is not RootCommand && Array.IndexOf(args, "--version") > 0)
        {
            // System.CommandLine would take it for a file name (or an unknown word) and report what is then missing.
            return Report(stderr, "--version belongs to 'xent' alone: run 'xent --version' (see 'xent --help')", ExitCodes.Usage);
        }

        // An unknown word before --version is no error to System.CommandLine (it prints the version); it is one here.
        if (parsed.Errors.Count > 0 || (parsed.CommandResult.Command is RootCommand && parsed.UnmatchedTokens.Count > 0))
        {
            return Report(stderr, OneLine(UsageError(parsed)) + " (see 'xent --help')", ExitCodes.Usage);
        }

        try
        {
            var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
            return parsed.Invoke(config);
        }
        catch (CliException e)
        {
            return Report(stderr, OneLine(e.Message), e.ExitCode);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or NotSupportedException or IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return Report(stderr, OneLine(Describe(e)), ExitCodes.BadData);
        }
        catch (OutOfMemoryException)
        {
            return Report(stderr, "not enough memory for these inputs", ExitCodes.BadData);
        }
    }

    /// <summary>Prints the error line and returns the exit code, which is all that is left to say when standard error
    /// itself cannot be written (closed, or on a full disk).</summary>
    private static int Report(TextWriter stderr, string message, int exitCode)
    {
        try
        {
            stderr.WriteLine("error: " + message);
            stderr.Flush();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return exitCode;
    }

    private static RootCommand BuildCommands(TextWriter stdout)
    {
        var root = new RootCommand("xent: PyTorch-exact NLL and cross-entropy losses and gradients over NumPy .npy files; `xent eval` scores .npy or .safetensors evaluation sets.");
        root.Subcommands.Add(LossCommand.Create(LossKind.Nll, stdout));
        root.Subcommands.Add(LossCommand.Create(LossKind.CrossEntropy, stdout));
        root.Subcommands.Add(DemoCommand.Create(stdout));
        root.Subcommands.Add(Eval.EvalCommand.Create(stdout));
        return root;
    }

    /// <summary>
    /// The first parse error, made specific where System.CommandLine's own message names no value: an unknown word
    /// where a command should be ("Required command was not provided." for <c>xent frob</c>), and a missing
    /// positional argument ("Required argument missing for command: 'nll'." says neither which nor what it is).
    /// </summary>
    private static string UsageError(ParseResult parsed)
    {
        Command command = parsed.CommandResult.Command;
        if (command is RootCommand && parsed.UnmatchedTokens.Count > 0)
        {
            string commands = string.Join(", ", command.Subcommands.Select(c => c.Name));
            return $"unknown command '{parsed.UnmatchedTokens[0]}' (expected one of: {commands})";
        }

        string[] missing = [.. parsed.Errors
            .Select(e => e.SymbolResult is ArgumentResult { Tokens.Count: 0 } r && command.Arguments.Contains(r.Argument) ? r.Argument.Name : null)
            .OfType<string>().Distinct()];
        if (missing.Length > 0)
        {
            return $"'xent {command.Name}' needs {string.Join(" and ", missing)}, which {(missing.Length > 1 ? "are" : "is")} missing";
        }

        return parsed.Errors[0].Message;
    }

    /// <summary>The library's argument messages end with "(Parameter 'x')"; the user needs the sentence only.</summary>
    private static string Describe(Exception e)
    {
        if (e is ArgumentException a && a.ParamName is { } name)
        {
            string suffix = $" (Parameter '{name}')";
            string message = a.Message;
            return message.EndsWith(suffix, StringComparison.Ordinal) ? message[..^suffix.Length] : message;
        }

        return e.Message;
    }

    private static string OneLine(string message) =>
        string.Join(' ', message.ReplaceLineEndings(" ").Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries));
}
