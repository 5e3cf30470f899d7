namespace ShopAstro.Storefront.Client;

/// <summary>Store and subject ids of the contract: 1 to 128 characters of <c>A-Z a-z 0-9 . _ : -</c>.</summary>
public static class ConsentIds
{
    public const int MaxLength = 128;

    /// <summary>Subject ids starting with this are anonymous visitors.</summary>
    public const string AnonymousPrefix = "anon:";

    public static bool IsValid(string? id)
    {
        if (string.IsNullOrEmpty(id) || id.Length > MaxLength)
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

    public static bool IsAnonymous(string? subjectId) =>
        IsValid(subjectId) && subjectId!.StartsWith(AnonymousPrefix, StringComparison.Ordinal);
}
