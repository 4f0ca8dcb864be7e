@file:Suppress("unused", "UNUSED_PARAMETER")
package androidx.compose.material3
import androidx.compose.foundation.layout.RowScope
import androidx.compose.ui.Modifier
class TextStyle
class Color
class Typography { val headlineMedium = TextStyle(); val headlineSmall = TextStyle(); val bodySmall = TextStyle(); val titleMedium = TextStyle() }
class ColorScheme { val primary = Color(); val error = Color() }
object MaterialTheme { val typography: Typography get() = Typography(); val colorScheme: ColorScheme get() = ColorScheme() }
fun Text(text: String, modifier: Modifier = Modifier, color: Color? = null, style: TextStyle? = null) {}
fun Button(onClick: () -> Unit, modifier: Modifier = Modifier, enabled: Boolean = true, content: RowScope.() -> Unit) {}
fun OutlinedButton(onClick: () -> Unit, modifier: Modifier = Modifier, enabled: Boolean = true, content: RowScope.() -> Unit) {}
fun FilterChip(selected: Boolean, onClick: () -> Unit, label: () -> Unit, modifier: Modifier = Modifier) {}
fun OutlinedTextField(value: String, onValueChange: (String) -> Unit, modifier: Modifier = Modifier, label: (() -> Unit)? = null, singleLine: Boolean = false, minLines: Int = 1) {}
fun HorizontalDivider() {}
