using ShopAstro.EdgeApi.Http;
using ShopAstro.Grains.Interfaces;

namespace ShopAstro.EdgeApi.Endpoints;

/// <summary>The times and verification details that request bodies carry, checked into values or a 400.</summary>
internal static partial class RequestInput
{
    /// <summary>Clocks disagree a little; a time further in the future than this is a mistake.</summary>
    private static readonly TimeSpan AllowedClockSkew = TimeSpan.FromMinutes(5);

    /// <summary>An RFC 3339 time with an offset, not in the future; absent: <paramref name="now"/>.</summary>
    public static IResult? TryReadTime(string? text, string field, DateTimeOffset now, out DateTimeOffset value)
    {
        if (text is null)
        {
            value = now;
            return null;
        }

        if (!TryParseRfc3339(text, out value) || value.Year < 2000)
        {
            return EdgeProblems.BadRequest($"invalid_{Snake(field)}",
                $"'{field}' must be an RFC 3339 time with an offset, e.g. 2026-11-27T09:00:00Z.");
        }

        if (value > now + AllowedClockSkew)
        {
            return EdgeProblems.BadRequest(field == "receivedAt" ? "received_in_future" : $"{Snake(field)}_in_future", $"'{field}' lies in the future.");
        }

        return null;
    }

    public static IResult? TryReadVerification(IdentityVerificationBody body, DateTimeOffset now, out IdentityVerification? verification)
    {
        verification = null;
        if (!VerificationMethods.TryParse(body.Method, out var method))
        {
            return EdgeProblems.BadRequest("invalid_verification_method",
                $"'identityVerification.method' must be one of {VerificationMethods.AllIds}.");
        }

        if (TryReadTime(body.VerifiedAt, "verifiedAt", now, out var verifiedAt) is { } problem)
        {
            return problem;
        }

        verification = new IdentityVerification(method, verifiedAt.ToUniversalTime());
        return null;
    }

    private static string Snake(string field) => field switch { "receivedAt" => "received_at", "verifiedAt" => "verified_at", _ => field };

    public static bool TryParseRfc3339(string text, out DateTimeOffset value)
    {
        value = default;
        return Rfc3339().IsMatch(text)
            && DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out value);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")]
    private static partial System.Text.RegularExpressions.Regex Rfc3339();
}
