namespace ShopAstro.EdgeApi.Http;

/// <summary>Store and subject ids: 1 to 128 characters of <c>A-Z a-z 0-9 . _ : -</c>.</summary>
public static class Ids
{
    public const int MaxLength = 128;
    public const string AnonymousPrefix = "anon:";

    /// <summary>The 400 for the first invalid route id, or null when both are valid.</summary>
    public static IResult? Reject(string storeId, string? subjectId = null) =>
        !IsValid(storeId) ? EdgeProblems.InvalidId("storeId")
        : subjectId is not null && !IsValid(subjectId) ? EdgeProblems.InvalidId("subjectId")
        : null;

    public static bool IsValid(string? id) => id is not null && IsValid(id.AsSpan());

    public static bool IsValid(ReadOnlySpan<char> id)
    {
        if (id.IsEmpty || id.Length > MaxLength)
        {
            return false;
        }

        foreach (var c in id)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or ':' or '-'))
            {
                return false;
            }
        }

        return true;
    }
}
