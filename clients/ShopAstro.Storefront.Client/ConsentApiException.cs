namespace ShopAstro.Storefront.Client;

/// <summary>
/// The edge answered with an error (an RFC 9457 problem with a stable <see cref="Code"/>), or could not be
/// reached (<see cref="IsUnavailable"/>: status 503, code <c>unavailable</c>, the cause as the inner exception).
/// </summary>
public sealed class ConsentApiException : Exception
{
    public const string UnavailableCode = "unavailable";

    public ConsentApiException(int status, string? code, string? title, string? detail, string? type = null, Exception? innerException = null)
        : base(Describe(status, code, title, detail), innerException)
    {
        Status = status;
        Code = code;
        Title = title;
        Detail = detail;
        Type = type;
    }

    /// <summary>The HTTP status (503 when the edge could not be reached).</summary>
    public int Status { get; }

    /// <summary>The problem's stable code: <c>unknown_purpose</c>, <c>policy_version_ahead</c>, <c>forbidden</c>, ...</summary>
    public string? Code { get; }

    public string? Title { get; }

    public string? Detail { get; }

    public string? Type { get; }

    /// <summary>An outage rather than a reaction to the request: retrying later may succeed.</summary>
    public bool IsUnavailable => Status >= 500;

    internal static ConsentApiException Unreachable(Exception cause) =>
        new(503, UnavailableCode, "The consent edge could not be reached.", cause.Message, innerException: cause);

    private static string Describe(int status, string? code, string? title, string? detail) =>
        $"The consent edge answered {status} {code ?? "(no code)"}: {detail ?? title ?? "no details"}";
}
